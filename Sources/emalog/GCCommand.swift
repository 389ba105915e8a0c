import ArgumentParser
import EMALogCore
import EMALogFormats
import EMALogStore

extension EMALogCommand {
    struct GCCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Delete the chunk bodies of a team store that no run names any more (after prunes and replaces).",
            usage: "emalog gc --db postgresql://USER@HOST:PORT/DB [--grace SECONDS] [--dry-run] [--format text|json]",
            discussion: """
                A push of a pruned (or replaced, or truncated) log deletes the run's rows for what the log \
                no longer holds; the bodies those rows named stay, shared by content with other runs. gc \
                deletes the bodies no run names, in batches. It is safe while pushes run: a body a push \
                uploaded or found within the grace period (default an hour) stays, and a push that finds \
                a body while gc deletes it uploads it again. A grace shorter than a push takes to stage \
                one step can make that push fail at its commit (74, nothing lost: push again).

                Examples:
                  emalog gc --db postgresql://emalog@127.0.0.1:5432/emalog --dry-run
                  emalog gc --db postgresql://emalog@127.0.0.1:5432/emalog
                """)

        @Option(name: .long, help: ArgumentHelp("The team store: postgresql://USER@HOST:PORT/DATABASE.", valueName: "url"))
        var db: String

        @Option(help: ArgumentHelp("Leave bodies a push touched within this many seconds (default 3600).", valueName: "seconds"))
        var grace = 3600

        @Flag(help: "Count what gc would delete, deleting nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Output: text, or json (one object).", valueName: "format"))
        var format: ReportFormat = .text

        func validate() throws {
            guard TeamStore.isServer(db) else {
                throw ValidationError("--db must be a team store (postgresql://USER@HOST:PORT/DATABASE); a log file frees its space itself")
            }
            guard (0...(365 * 86_400)).contains(grace) else { throw ValidationError("--grace must be from 0 to 31536000 seconds") }
        }

        func run() throws {
            try reportingErrors {
                let done = try TeamStore.collectGarbage(at: db, dryRun: dryRun, graceSeconds: grace)
                if format == .json { return writeText(try JSONEncoding.text(done) + "\n") }
                writeText((dryRun ? "gc (dry run): would delete" : "gc: deleted") + " \(done.bodies) chunk bodies no run names "
                    + "(\(ByteCount.text(done.bytes)))"
                    + (done.spared > 0 ? "; \(done.spared) more are within the grace period of \(grace) s" : "") + "\n")
            }
        }
    }
}
