import ArgumentParser
import EMALogCore
import EMALogFormats
import EMALogStore
import Foundation

extension EMALogCommand {
    struct PinCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pin",
            abstract: "Name a step of a log (readers then take --step NAME), or remove a name.",
            usage: """
                emalog pin --db <log> --step <n> --name <name>
                emalog pin --db <log> --remove <name>
                """,
            discussion: """
                A pinned step's raw weights survive every retention policy. A name is 1 to 200 characters \
                without control characters and does not read as a number; pinning a name again moves it. \
                A pin is one small transaction: it works while an ingest (a Logger's run) writes the log, \
                so a step can be pinned before a retention policy drops it; a team store's run takes the \
                pins of its log at the next push.

                Examples:
                  emalog pin --db run.emalog --step 4200 --name best
                  emalog shadow --db run.emalog --step best --ema 0.999 -o best-ema.safetensors
                  emalog pin --db run.emalog --remove best
                """)

        @Option(name: .long, help: ArgumentHelp("The log file.", valueName: "log"))
        var db: String

        @Option(help: ArgumentHelp("The step to name: a number, or another pin's name.", valueName: "n"))
        var step: StepArgument?

        @Option(help: ArgumentHelp("The name.", valueName: "name"))
        var name: String?

        @Option(help: ArgumentHelp("Remove the pin of this name.", valueName: "name"))
        var remove: String?

        func validate() throws {
            if remove != nil {
                if step != nil || name != nil { throw ValidationError("--remove takes no --step or --name") }
            } else if step == nil || name == nil {
                throw ValidationError("give --step S and --name NAME (or --remove NAME)")
            }
            try step?.check("--step")
        }

        func run() throws {
            try reportingErrors {
                if let remove {
                    try LogEdit.unpin(log: db, name: remove)
                    writeText("removed pin '\(TerminalText.visible(remove))'\n")
                } else if let step, let name {
                    let pin = try LogEdit.pin(log: db, step: step.selector, name: name)
                    writeText("pinned step \(pin.step) as '\(TerminalText.visible(pin.name))'\n")
                }
            }
        }
    }

    struct PinsCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pins",
            abstract: "List a log's pinned steps.",
            discussion: """
                Examples:
                  emalog pins --db run.emalog
                  emalog pins --db postgresql://me@db/runs --run base --format json
                """)

        @OptionGroup var log: LogOptions

        @Option(help: ArgumentHelp("Output: table, or json (one object per line).", valueName: "format"))
        var format: Format = .table

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        func run() throws {
            try reportingErrors {
                let pins = try EMALog(openingAt: log.db, run: log.run).pins()
                switch format {
                case .json:
                    writeText(try pins.map { try JSONEncoding.text($0) + "\n" }.joined())
                case .table:
                    writeText(pins.isEmpty ? "no pins\n" : TerminalText.visible(
                        MetricsRendering.columns(["name", "step", "pinned at"], pins.map { [$0.name, String($0.step), $0.pinnedAt] })))
                }
            }
        }
    }
}

extension EMALogCommand {
    struct TruncateCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "truncate",
            abstract: "End a log at a step: remove every later step, before training resumes from its checkpoint there.",
            discussion: """
                A training resumed from its checkpoint at step S continues a log that went further: truncate \
                it after S first, so the abandoned steps never mix into the tracks, the "latest" shadow or the \
                metrics. The later steps' raw weights, snapshots and metric values are removed in one \
                transaction, recorded in the audit trail (`emalog info --provenance`); the next ingest \
                continues the tracks exactly from the latest snapshot at or before S. Pinned steps are kept \
                (65 names them). Under the log's ingest lock (75 while an ingest runs). Python: \
                emalog.Logger(db, resume_from=S) does it before the first step.

                Examples:
                  emalog truncate --db run.emalog --after 500
                  emalog truncate --db run.emalog --after best
                """)

        @Option(name: .long, help: ArgumentHelp("The log file.", valueName: "log"))
        var db: String

        @Option(help: ArgumentHelp("The last step to keep: a number, or a pin's name.", valueName: "n"))
        var after: StepArgument

        @Option(help: ArgumentHelp("Output: text, or json (one object: what was removed).", valueName: "format"))
        var format: ReportFormat = .text

        func validate() throws {
            try after.check("--after")
        }

        func run() throws {
            try reportingErrors {
                let done = try LogEdit.truncate(log: db, after: after.selector, arguments: CommandLine.arguments)
                if format == .json { return writeText(try JSONEncoding.text(done.removed) + "\n") }
                let r = done.removed
                writeText(r.steps == 0 && r.metricValues == 0 ? "nothing after step \(done.after): the log already ends there\n"
                    : "truncated after step \(done.after): removed \(r.steps) steps, \(r.snapshots) snapshots, "
                        + "\(r.metricValues) metric values (\(ByteCount.text(r.chunkBytes)) of raw chunks)\n")
            }
        }
    }
}
