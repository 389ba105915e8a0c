import ArgumentParser
import EMALogCore

extension EMALogCommand {
    struct Shadow: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the EMA shadow weights at a step.",
            discussion: """
                A tracked EMA starts from its nearest snapshot at or before the step and replays the raw
                steps after it; any other decay is computed post hoc from the first step, exactly.
                Examples:
                  emalog shadow --db run.emalog --step 5000 --ema 0.999 -o ema-5000.safetensors
                  emalog shadow --db run.emalog --decay 0.9995 -o posthoc.safetensors
                  emalog shadow --db run.emalog --ema slow --dtype param -o slow-bf16.safetensors
                """)

        @OptionGroup var log: LogOptions
        @OptionGroup var step: StepOptions
        @OptionGroup var track: TrackOptions
        @OptionGroup var output: OutputOptions

        @Option(help: ArgumentHelp("f32 (the shadow's precision) or param (each parameter's dtype, round to nearest even).",
                                   valueName: "dtype"))
        var dtype: ShadowResult.Precision = .f32

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file.", valueName: "path"))
        var out: String

        func run() throws {
            try reportingErrors {
                let shadow = try EMALog(openingAt: log.db).shadow(atStep: step.step, track: track.selector,
                                                                  observer: TerminalProgress())
                try shadow.write(to: out, format: output.format(for: out), precision: dtype)
                TerminalProgress.clear()
            }
        }
    }
}
