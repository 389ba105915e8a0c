import ArgumentParser
import EMAKernel
import EMALogCore
import Foundation

extension EMALogCommand {
    struct VerifyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Compare a training-time EMA checkpoint with emalog's replay, tensor by tensor.",
            usage: """
                emalog verify --db <log> [--ema <spec> | --decay <D>] [--step <n>] <checkpoint>
                              [--format text|json] [--atol <x> | --max-ulp <n>] [--strict] [--find]
                """,
            discussion: """
                Reads checkpoints as timm ModelEmaV3 (state_dict_ema), torch AveragedModel (module., \
                n_averaged), diffusers EMAModel (save_pretrained), ema-pytorch (ema_model., online_model., \
                initted, step) and Lightning (a prefix such as model.) write them, and says which layout it \
                recognised. Each floating tensor is compared in the checkpoint's dtype: emalog's Float32 \
                shadow rounded once to it. --step defaults to the checkpoint's metadata "step", else the \
                log's latest step.

                Exits 0 when every floating tensor both have is exact (or within --atol / --max-ulp), 1 \
                otherwise. Library counters, ema-pytorch's online weights and integer buffers that differ \
                are listed as not compared; with --strict, integer buffers and tensors on one side only \
                count too. --find tries every form and schedule with the decay given (or the checkpoint \
                metadata's "decay"), starting at the log's first step or the one after (after=0|1), \
                ema-pytorch's Float32 decay (and its defaults after=100, every=10 for its layout), and \
                prints the spec that reproduces the checkpoint, or the closest.

                Examples:
                  emalog verify --db run.emalog --ema name=t,decay=0.9998,schedule=warmup,form=lerp ema.safetensors
                  emalog verify --db run.emalog --ema slow --step 5000 --format json ema.safetensors
                  emalog verify --db run.emalog --ema decay=0.9999,schedule=warmup,after=100,every=10,decay_dtype=f32,form=lerp ema-pytorch.safetensors
                  emalog verify --db run.emalog --decay 0.9999 --find ema.safetensors
                """)

        @OptionGroup var log: LogOptions
        @OptionGroup var step: StepOptions
        @OptionGroup var track: TrackOptions

        @Argument(help: ArgumentHelp("The EMA checkpoint (.safetensors).", valueName: "checkpoint"))
        var checkpoint: String

        @Option(help: ArgumentHelp("text (default) or json.", valueName: "format"))
        var format: VerifyFormat = .text

        @Option(help: ArgumentHelp("Accept elements within this absolute difference.", valueName: "x"))
        var atol: Double?

        @Option(name: .customLong("max-ulp"),
                help: ArgumentHelp("Accept elements within this many ulps of the checkpoint's dtype.", valueName: "n"))
        var maxULP: Int?

        @Flag(help: "Integer buffers that differ and tensors on one side only make the verify fail.")
        var strict = false

        @Flag(help: "Search forms and schedules for the spec that reproduces the checkpoint.")
        var find = false

        func validate() throws {
            if atol != nil && maxULP != nil { throw ValidationError("give --atol or --max-ulp, not both") }
            if let atol, !(atol >= 0 && atol.isFinite) { throw ValidationError("--atol must be a number >= 0, got \(atol)") }
            if let maxULP, maxULP < 0 { throw ValidationError("--max-ulp must be an integer >= 0, got \(maxULP)") }
            if find, let ema = track.ema, (try? EMASpec(parsing: ema)) == nil {
                throw ValidationError("--find takes its decay from --decay D or a spec in --ema, not '\(ema)'")
            }
        }

        var tolerance: VerifyTolerance {
            if let atol { return .absolute(atol) }
            if let maxULP { return .ulps(maxULP) }
            return .exact
        }

        func run() throws {
            try reportingErrors {
                let emalog = try EMALog(openingAt: log.db, run: log.run)
                let report: VerifyReport
                var text: String
                if find {
                    let decays = track.decay.map { [$0] } ?? track.ema.flatMap { try? EMASpec(parsing: $0) }.map { [$0.decay] } ?? []
                    let candidates = try emalog.findSpec(checkpoint: checkpoint, decays: decays, atStep: try emalog.step(step.selector),
                                                         tolerance: tolerance, strict: strict, observer: TerminalProgress())
                    report = candidates[0].report
                    text = format == .json ? VerifyRendering.json(candidates) : VerifyRendering.text(candidates)
                } else {
                    report = try emalog.verify(checkpoint: checkpoint, track: track.selector, atStep: try emalog.step(step.selector),
                                               tolerance: tolerance, strict: strict, observer: TerminalProgress())
                    text = format == .json ? VerifyRendering.json(report) : VerifyRendering.text(report)
                }
                TerminalProgress.clear()
                if format == .json { FileHandle.standardOutput.write(Data((text + "\n").utf8)) } else { writeText(text + "\n") }
                if report.verdict == .differs { throw ExitCode(ExitStatus.auditMismatch.rawValue) }
            }
        }
    }
}

/// `verify --format`.
enum VerifyFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
