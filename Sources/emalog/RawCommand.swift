import ArgumentParser
import EMALogCore

extension EMALogCommand {
    struct RawCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "raw",
            abstract: "Write the raw weights of a step exactly as they were ingested.",
            usage: "emalog raw --db <log> [--step <n>] [--format <format>] -o <out>",
            discussion: """
                Names, dtypes, shapes and bytes are those of the ingested file, with its __metadata__.

                \(OutputHelp.file)

                Examples:
                  emalog raw --db run.emalog --step 5000 -o raw-5000.safetensors
                  emalog raw --db run.emalog -o latest.npz
                """)

        @OptionGroup var log: LogOptions
        @OptionGroup var step: StepOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file, or - for stdout.", valueName: "out"))
        var out: String

        func run() throws {
            try reportingErrors {
                let emalog = try EMALog(openingAt: log.db, run: log.run)
                TerminalProgress().warnIfOneRank(emalog)
                try emalog.writeRaw(atStep: try emalog.step(step.selector), to: emalog.output(to: out, format: output.format))
            }
        }
    }
}
