import ArgumentParser
import EMALogCore
import Foundation

extension EMALogCommand {
    struct ShadowCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shadow",
            abstract: "Write the EMA shadow weights at a step.",
            usage: """
                emalog shadow --db <log> [--step <n>] [--ema <spec> | --decay <D>]
                              [--sigma-rel <R> [--synthesize]]
                              [--dtype <dtype>] [--format <format>] -o <out>
                """,
            discussion: """
                A tracked EMA starts from its nearest snapshot at or before the step and replays the raw \
                steps after it; any other decay is computed post hoc from the first step, exactly. A \
                power-function EMA (--sigma-rel R) that the raw steps cannot replay (a retention policy), or \
                any with --synthesize, is made by EDM2's post-hoc synthesis from the snapshots of two or more \
                power tracks; its fit error and the snapshots it weighed are in the output's metadata.

                \(OutputHelp.file)

                Examples:
                  emalog shadow --db run.emalog --step 5000 --ema 0.999 -o ema.safetensors
                  emalog shadow --db run.emalog --decay 0.9995 -o posthoc.safetensors
                  emalog shadow --db run.emalog --ema slow --dtype param -o slow.safetensors
                  emalog shadow --db run.emalog --ema slow -o - | python load.py
                  emalog shadow --db run.emalog --sigma-rel 0.15 -o phema.safetensors
                """)

        @OptionGroup var log: LogOptions
        @OptionGroup var step: StepOptions
        @OptionGroup var track: TrackOptions
        @OptionGroup var precision: PrecisionOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file, or - for stdout.", valueName: "out"))
        var out: String

        @Option(help: ArgumentHelp("The power-function EMA (EDM2) of this σ_rel: replayed exactly when the log kept every "
            + "raw step, else synthesised from the power tracks' snapshots (in the form of the log's power tracks, else lerp).",
                                   valueName: "R"))
        var sigmaRel: Double?

        @Flag(help: "Synthesise a power-function EMA from the power tracks' snapshots (EDM2) even where a replay could.")
        var synthesize = false

        func validate() throws {
            if let sigmaRel {
                guard track.ema == nil && track.decay == nil else { throw ValidationError("give --sigma-rel, --ema or --decay, not two") }
                guard sigmaRel > 0 && sigmaRel < 0.2887 else { throw ValidationError("--sigma-rel must be in (0, 0.2887), got \(sigmaRel)") }
            }
        }

        func run() throws {
            try reportingErrors {
                let emalog = try EMALog(openingAt: log.db, run: log.run)
                TerminalProgress().warnIfOneRank(emalog)
                let target = try emalog.output(to: out, format: output.format)
                let selector = try sigmaRel.map { EMALog.TrackSelector.nameOrSpec(try emalog.sigmaRelSpec($0)) } ?? track.selector
                let shadow = try emalog.shadow(atStep: try emalog.step(step.selector), track: selector, synthesize: synthesize,
                                               observer: TerminalProgress())
                if let synthesis = shadow.synthesis {
                    printError("synthesised from \(synthesis.inputs.count) snapshots (EDM2 post-hoc EMA), relative fit error "
                        + String(format: "%.2e", synthesis.relativeError))
                }
                TerminalProgress.clear()
                try shadow.write(to: target, precision: precision.dtype)
            }
        }
    }
}
