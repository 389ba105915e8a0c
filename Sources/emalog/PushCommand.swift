import ArgumentParser
import EMALogCore
import Foundation

extension EMALogCommand {
    struct Push: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a local log into a run of a team store (PostgreSQL), sending only what it lacks.",
            usage: "emalog push --db <log> --to postgresql://USER@HOST:PORT/DATABASE [--run <name>] [--connections <n>]",
            discussion: """
                Incremental and resumable: each step commits in its own transaction, in step order, so an \
                interrupted push (even a kill) leaves a usable prefix, and the same command again goes on \
                from there; a second push of an unchanged log changes nothing. Works on a log an ingest is \
                still writing (the steps committed when the push starts are pushed). Chunks are stored by \
                the SHA-256 of their bytes: identical chunks of different runs are stored once. The run's \
                name defaults to the log's id; a name that holds another log is refused.

                Examples:
                  emalog push --db run.emalog --to postgresql://emalog@127.0.0.1:5432/emalog --run baseline
                  emalog push --db run.emalog --to postgresql://me@db.lab:5432/runs
                """)

        @Option(name: .long, help: ArgumentHelp("The local log file to push.", valueName: "log"))
        var db: String

        @Option(help: ArgumentHelp("The team store: postgresql://USER@HOST:PORT/DATABASE.", valueName: "url"))
        var to: String

        @Option(name: .customLong("run"), help: ArgumentHelp("The run's name on the server (default: the log's id).", valueName: "name"))
        var runName: String?

        @Option(help: ArgumentHelp("Connections uploading side by side.", valueName: "n"))
        var connections: Int = 2

        func validate() throws {
            if TeamStore.isServer(db) { throw ValidationError("--db must be a local log file; --to names the team store") }
            if !TeamStore.isServer(to) { throw ValidationError("--to must be a team store: postgresql://USER@HOST:PORT/DATABASE") }
            if let run = runName, run.isEmpty || run.count > 200 || run.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw ValidationError("--run must be 1 to 200 characters without control characters")
            }
            if !(1...16).contains(connections) { throw ValidationError("--connections must be in 1...16, got \(connections)") }
        }

        func run() throws {
            try reportingErrors {
                let progress = TerminalProgress()
                let r = try TeamStore.push(log: db, to: to, run: runName, connections: connections, observer: progress)
                TerminalProgress.clear()
                var text: String
                if r.upToDate {
                    text = "run '\(r.run)' is up to date: nothing to push"
                } else {
                    text = "pushed run '\(r.run)': \(r.steps) steps"
                    if r.replacedSteps > 0 { text += " (\(r.replacedSteps) replaced in the log)" }
                    text += ", \(r.snapshots) snapshots"
                    if r.deletedSnapshots > 0 { text += " (\(r.deletedSnapshots) stale ones deleted)" }
                    text += ", \(r.metricBlocks) metric blocks (\(r.metricValues) values); uploaded \(r.bodies) chunk bodies "
                        + "(\(ByteCount.text(r.bodyBytes)))"
                    if r.sharedBytes > 0 { text += ", \(ByteCount.text(r.sharedBytes)) already on the server" }
                }
                text += String(format: " in %.2f s", r.seconds)
                if r.bodyBytes > 0 && r.seconds > 0 { text += " (\(ByteCount.text(Int(Double(r.bodyBytes) / r.seconds)))/s)" }
                print(text)
            }
        }
    }
}
