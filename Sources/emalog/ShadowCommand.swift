import ArgumentParser
import EMALogCore

extension EMALogCommand {
    struct ShadowCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "shadow",
            abstract: "Write the EMA shadow weights at a step.",
            usage: """
                emalog shadow --db <log> [--step <n>] [--ema <spec> | --decay <D>]
                              [--dtype <dtype>] [--format <format>] -o <out>
                """,
            discussion: """
                A tracked EMA starts from its nearest snapshot at or before the step and replays the raw \
                steps after it; any other decay is computed post hoc from the first step, exactly.

                \(OutputHelp.file)

                Examples:
                  emalog shadow --db run.emalog --step 5000 --ema 0.999 -o ema.safetensors
                  emalog shadow --db run.emalog --decay 0.9995 -o posthoc.safetensors
                  emalog shadow --db run.emalog --ema slow --dtype param -o slow.safetensors
                  emalog shadow --db run.emalog --ema slow -o - | python load.py
                """)

        @OptionGroup var log: LogOptions
        @OptionGroup var step: StepOptions
        @OptionGroup var track: TrackOptions
        @OptionGroup var precision: PrecisionOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file, or - for stdout.", valueName: "out"))
        var out: String

        func run() throws {
            try reportingErrors {
                let emalog = try EMALog(openingAt: log.db, run: log.run)
                let target = try emalog.output(to: out, format: output.format)
                let shadow = try emalog.shadow(atStep: try emalog.step(step.selector), track: track.selector, observer: TerminalProgress())
                TerminalProgress.clear()
                try shadow.write(to: target, precision: precision.dtype)
            }
        }
    }
}
