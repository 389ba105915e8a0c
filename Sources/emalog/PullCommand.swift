import ArgumentParser
import EMALogCore
import Foundation

extension EMALogCommand {
    struct Pull: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a run of a team store as a new local log file.",
            usage: "emalog pull --db postgresql://USER@HOST:PORT/DB --run <name> -o <log>",
            discussion: """
                The log has the run's id, audit trail, steps, chunks (their stored bytes as they are), \
                tracks, snapshots and metrics: every reader gives the same results on it, and `emalog info \
                --digest` equals the run's. It is written beside <log> and renamed into place at the end, so \
                an interrupted pull leaves no log; an existing <log> is never overwritten.

                Examples:
                  emalog pull --db postgresql://me@db.lab:5432/runs --run base -o base.emalog
                """)

        @Option(name: .long, help: ArgumentHelp("The team store: postgresql://USER@HOST:PORT/DATABASE.", valueName: "url"))
        var db: String

        @Option(name: .customLong("run"), help: ArgumentHelp("The run to pull (emalog runs lists them).", valueName: "name"))
        var runName: String

        @Option(name: .short, help: ArgumentHelp("The new log file.", valueName: "log"))
        var output: String

        func validate() throws {
            if !TeamStore.isServer(db) { throw ValidationError("--db must be a team store: postgresql://USER@HOST:PORT/DATABASE") }
            if TeamStore.isServer(output) { throw ValidationError("-o must be a local log file") }
        }

        func run() throws {
            try reportingErrors {
                let r = try TeamStore.pull(from: db, run: runName, to: output, observer: TerminalProgress())
                TerminalProgress.clear()
                print("pulled run '\(r.run)' into \(output): \(r.steps) steps, \(r.snapshots) snapshots, \(r.metricValues) metric values, "
                    + "\(ByteCount.text(r.bytes)) of chunks" + String(format: " in %.2f s", r.seconds))
            }
        }
    }
}
