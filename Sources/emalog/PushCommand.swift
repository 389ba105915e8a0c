import ArgumentParser
import EMALogCore
import EMALogFormats
import EMALogStore
import Foundation

extension EMALogCommand {
    struct PushCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "push",
            abstract: "Copy a local log into a run of a team store (PostgreSQL), sending only what it lacks.",
            usage: """
                emalog push --db <log> --to <url> [--run <name>] [--connections <n>]
                emalog push --db <log> --to <url> --run <name> --repair
                emalog push --db <log> --to <url> --run <name> --rank <r> --ranks <n>
                emalog push --db <folder> --to <url> [--run <name>]
                """,
            discussion: """
                Incremental and resumable: each step commits in its own transaction, in step order, so an \
                interrupted push (even a kill) leaves a usable prefix, and the same command again goes on \
                from there; a second push of an unchanged log changes nothing. Works on a log an ingest is \
                still writing (the steps committed when the push starts are pushed). Chunks are stored by \
                the SHA-256 of their bytes: identical chunks of different runs are stored once. The run's \
                name defaults to the log's id; a name that holds another log is refused.

                A body is reused only when the server hashes it to its name, so a body damaged on the server \
                is written again rather than spread to another run. --repair also has the server hash every \
                body the run names (what a plain push does not read again) and writes the damaged ones again \
                from this log; `emalog audit --db URL --run NAME` finds them. Metric blocks are compared by \
                the server's hash of their data at every push.

                Sharded training: given the folder of rank logs the Python Logger writes in a torch.distributed \
                job (rank-RRRRR.emalog), push stores every rank, as runs NAME/rankR of sharded run NAME (default: \
                the folder's name). A rank's log can also be pushed alone with --rank R --ranks N. Every reader \
                with --run NAME reads the ranks together as the whole model; the EMA is elementwise, so the \
                result equals, bit for bit, the EMA of the unsharded run.

                Examples:
                  emalog push --db run.emalog --to postgresql://me@db.lab:5432/runs
                  emalog push --db run.emalog --to postgresql://me@db/runs --run base
                  emalog push --db ckpt/ema --to postgresql://me@db/r --run big
                  emalog push --db r3.log --to postgresql://me@db/r --run m --rank 3 --ranks 8
                  emalog push --db run.emalog --to postgresql://me@db/runs --run base --repair
                  emalog push --db run.emalog --to postgresql://me@db/runs --format json
                """)

        @Option(name: .long, help: ArgumentHelp("The local log file to push (or the folder of a sharded training's rank logs).", valueName: "log"))
        var db: String

        @Option(help: ArgumentHelp("The team store: postgresql://USER@HOST:PORT/DATABASE.", valueName: "url"))
        var to: String

        @Option(name: .customLong("run"), help: ArgumentHelp("The run's name on the server (default: the log's id).", valueName: "name"))
        var runName: String?

        @Option(help: ArgumentHelp("This log is rank R of a sharded run (with --ranks and --run).", valueName: "r"))
        var rank: Int?

        @Option(help: ArgumentHelp("How many ranks the sharded run has.", valueName: "n"))
        var ranks: Int?

        @Option(help: ArgumentHelp("Connections uploading side by side.", valueName: "n"))
        var connections: Int = 2

        @Flag(help: "Have the server hash every chunk body of the run and write the damaged ones again from this log.")
        var repair = false

        @Option(help: ArgumentHelp("Output: text, or json (one object: what was pushed).", valueName: "format"))
        var format: ReportFormat = .text

        func validate() throws {
            if TeamStore.isServer(db) { throw ValidationError("--db must be a local log file; --to names the team store") }
            if !TeamStore.isServer(to) { throw ValidationError("--to must be a team store: postgresql://USER@HOST:PORT/DATABASE") }
            if let run = runName, let problem = StoredText.nameProblem(run) {
                throw ValidationError("--run must be 1 to 200 characters without control characters: \(problem)")
            }
            if (rank == nil) != (ranks == nil) { throw ValidationError("give --rank and --ranks together") }
            if let rank, let ranks {
                if !(1...65536).contains(ranks) { throw ValidationError("--ranks must be in 1...65536, got \(ranks)") }
                if !(0..<ranks).contains(rank) { throw ValidationError("--rank must be in 0...\(ranks - 1), got \(rank)") }
                if runName == nil { throw ValidationError("a rank needs the sharded run's name: --run NAME") }
                if runName!.contains("/") { throw ValidationError("a sharded run's name has no '/'; its ranks are NAME/rankR") }
            }
            if !(1...16).contains(connections) { throw ValidationError("--connections must be in 1...16, got \(connections)") }
        }

        func run() throws {
            try reportingErrors {
                let progress = TerminalProgress()
                if rank == nil, let reports = try TeamStore.pushRanks(folder: db, to: to, run: runName, connections: connections,
                                                                      repair: repair, observer: progress) {
                    TerminalProgress.clear()
                    if format == .json { return writeText(try JSONEncoding.text(reports.map { PushDocument(report: $0) }) + "\n") }
                    return writeText(reports.map { Self.sentence($0) + "\n" }.joined())
                }
                let r = try TeamStore.push(log: db, to: to, run: runName,
                                              shard: rank.map { ($0, ranks!) }, connections: connections, repair: repair,
                                           observer: progress)
                TerminalProgress.clear()
                if format == .json { return writeText(try JSONEncoding.text(PushDocument(report: r)) + "\n") }
                writeText(Self.sentence(r) + "\n")
            }
        }

        /// What a push did, in one sentence.
        static func sentence(_ r: PushReport) -> String {
            var text: String
            if r.upToDate {
                text = "run '\(r.run)' is up to date: nothing to push"
            } else {
                text = "pushed run '\(r.run)': \(r.steps) steps"
                if r.replacedSteps > 0 { text += " (\(r.replacedSteps) replaced in the log)" }
                if r.removedSteps > 0 { text += ", \(r.removedSteps) removed (the log was truncated)" }
                text += ", \(r.snapshots) snapshots"
                if r.deletedSnapshots > 0 { text += " (\(r.deletedSnapshots) stale ones deleted)" }
                text += ", \(r.metricBlocks) metric blocks (\(r.metricValues) values); uploaded \(r.bodies) chunk bodies "
                    + "(\(ByteCount.text(r.bodyBytes)))"
                if r.sharedBytes > 0 { text += ", \(ByteCount.text(r.sharedBytes)) already on the server" }
                if r.repairedBodies > 0 { text += "; repaired \(r.repairedBodies) damaged chunk bodies" }
            }
            text += String(format: " in %.2f s", r.seconds)
            if r.bodyBytes > 0 && r.seconds > 0 { text += " (\(ByteCount.text(Int(Double(r.bodyBytes) / r.seconds)))/s)" }
            return text
        }
    }
}

/// `push --format json`: the report's members and whether the run was up to date already.
struct PushDocument: Encodable {
    var report: PushReport

    enum CodingKeys: String, CodingKey { case upToDate = "up_to_date" }

    func encode(to encoder: any Encoder) throws {
        try report.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(report.upToDate, forKey: .upToDate)
    }
}

/// Output of `push` and `pull`: a sentence, or one JSON object.
enum ReportFormat: String, ExpressibleByArgument, CaseIterable { case text, json }
