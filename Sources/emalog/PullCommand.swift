import ArgumentParser
import EMALogCore
import EMALogFormats
import Foundation

extension EMALogCommand {
    struct PullCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pull",
            abstract: "Write a run of a team store as a new local log file.",
            usage: "emalog pull --db postgresql://USER@HOST:PORT/DB --run <name> -o <log>",
            discussion: """
                The log has the run's id, audit trail, steps, chunks (their stored bytes as they are), \
                tracks, snapshots and metrics: every reader gives the same results on it, and `emalog info \
                --digest` equals the run's. It is written beside <log> and linked into place at the end, so \
                an interrupted pull leaves no log; nothing at <log> (a file, a folder, a symlink) is ever \
                replaced. SIGINT, SIGTERM or SIGHUP stop it between steps: it removes what it wrote and \
                exits 75 (a second signal ends it at once); what a killed pull left is removed by the \
                next pull into <log>.

                Examples:
                  emalog pull --db postgresql://me@db.lab:5432/runs --run base -o base.emalog
                """)

        @Option(name: .long, help: ArgumentHelp("The team store: postgresql://USER@HOST:PORT/DATABASE.", valueName: "url"))
        var db: String

        @Option(name: .customLong("run"), help: ArgumentHelp("The run to pull (emalog runs lists them).", valueName: "name"))
        var runName: String

        @Option(name: .short, help: ArgumentHelp("The new log file.", valueName: "log"))
        var output: String

        @Option(help: ArgumentHelp("Output: text, or json (one object: what was pulled).", valueName: "format"))
        var format: ReportFormat = .text

        func validate() throws {
            if !TeamStore.isServer(db) { throw ValidationError("--db must be a team store: postgresql://USER@HOST:PORT/DATABASE") }
            if TeamStore.isServer(output) { throw ValidationError("-o must be a local log file") }
            if output == "-" { throw ValidationError("-o must name a log file: a pull writes a log, not a stream to standard output") }
            if output.isEmpty { throw ValidationError("-o must name a log file") }
        }

        func run() throws {
            try reportingErrors {
                // SIGINT, SIGTERM and SIGHUP stop the pull between steps (it removes what it wrote);
                // a second one ends it at once (the next pull removes what it left).
                StopSignal.install([SIGINT, SIGTERM, SIGHUP], once: true)
                let r = try TeamStore.pull(from: db, run: runName, to: output, observer: TerminalProgress())
                TerminalProgress.clear()
                if format == .json { return writeText(try JSONEncoding.text(r) + "\n") }
                print("pulled run '\(r.run)' into \(output): \(r.steps) steps, \(r.snapshots) snapshots, \(r.metricValues) metric values, "
                    + "\(ByteCount.text(r.bytes)) of chunks" + String(format: " in %.2f s", r.seconds))
            }
        }
    }
}
