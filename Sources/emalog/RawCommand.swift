import ArgumentParser
import EMALogCore

extension EMALogCommand {
    struct Raw: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the raw weights of a step exactly as they were ingested.",
            discussion: """
                Examples:
                  emalog raw --db run.emalog --step 5000 -o raw-5000.safetensors
                  emalog raw --db run.emalog -o latest.npz
                """)

        @OptionGroup var log: LogOptions
        @OptionGroup var step: StepOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file.", valueName: "path"))
        var out: String

        func run() throws {
            try reportingErrors {
                try EMALog(openingAt: log.db).writeRaw(atStep: step.step, to: out, format: output.format(for: out))
            }
        }
    }
}
