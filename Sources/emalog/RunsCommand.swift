import ArgumentParser
import EMALogCore
import EMALogFormats
import EMALogStore
import Foundation

extension EMALogCommand {
    struct RunsCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "runs",
            abstract: "List the runs in a team store (PostgreSQL).",
            usage: "emalog runs --db postgresql://USER@HOST:PORT/DB [--format table|json]",
            discussion: """
                Lists the runs of a team store by name: steps, last step, tensors, tracks, stored size, \
                metric values, last push. It writes nothing on the server (a role that may only SELECT \
                will do): a database without emalog's schema holds no runs (the first push creates it), \
                one written by a newer emalog is refused. The password, if any, comes from the address, \
                PGPASSWORD or a password file (~/.pgpass, PGPASSFILE) and is never printed.

                Examples:
                  emalog runs --db postgresql://emalog@127.0.0.1:5432/emalog
                  emalog runs --db postgresql://me@db.lab:5432/runs --format json
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

        @Option(name: .long, help: ArgumentHelp("The team store: postgresql://USER@HOST:PORT/DATABASE.", valueName: "url"))
        var db: String

        @Option(help: ArgumentHelp("Output format.", valueName: "format"))
        var format: Format = .table

        func validate() throws {
            if !TeamStore.isServer(db) {
                throw ValidationError("--db must be a team store (postgresql://USER@HOST:PORT/DATABASE); a log file has one run: emalog info")
            }
        }

        func run() throws {
            try reportingErrors {
                let runs = try TeamStore.runs(at: db)
                var out = ""
                switch format {
                case .json:
                    for run in runs { out += try JSONEncoding.text(run) + "\n" }
                case .table:
                    out = runs.isEmpty ? "no runs yet\n" : TerminalText.visible(
                        MetricsRendering.columns(
                            ["run", "steps", "last step", "tensors", "tracks", "size", "metric values", "pushed", "log id"],
                            runs.map {
                                [$0.name, String($0.steps), $0.lastStep.map(String.init) ?? "-", String($0.tensors), String($0.tracks),
                                 ByteCount.text($0.storedBytes), String($0.metricValues), $0.pushedAt, $0.logID]
                            }))
                }
                FileHandle.standardOutput.write(Data(out.utf8))
            }
        }
    }
}
