import EMALogTestSupport
import Foundation
import Testing

/// `emalog pull` never writes over anything at its target, and leaves nothing behind: not when it
/// is refused, stopped by a signal, or killed (the next pull cleans up).
@Suite(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1: the team-store tests are skipped"))
struct PullTests {
    let base = TeamPushTests()

    func pushed(_ dir: TemporaryDirectory) async throws -> (log: String, db: String) {
        let log = try await base.makeLog(dir, steps: 1...12)
        let db = try await ThrowawayPostgres.database()
        #expect(try await base.push(log, db).status == 0)
        return (log, db)
    }

    func names(_ dir: TemporaryDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    @Test func nothingAtTheTargetIsReplaced() async throws {
        let dir = TemporaryDirectory()
        let (_, db) = try await pushed(dir)
        // A dangling symlink is something: it stays as it was.
        let link = dir.file("link.emalog")
        #expect(symlink(dir.file("nowhere/else.emalog"), link) == 0)
        let dangling = try await CLI.run(["pull", "--db", db, "--run", "r", "-o", link])
        #expect(dangling.status == 64 && dangling.stderr.contains("exists"), "\(dangling.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == dir.file("nowhere/else.emalog"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("nowhere")))
        // `-` is not standard output for a log: refused before anything is written.
        let dash = try await CLI.run(["pull", "--db", db, "--run", "r", "-o", "-"])
        #expect(dash.status == 64 && dash.stderr.contains("-o must name a log file"), "\(dash.stderr)")
        #expect(!FileManager.default.fileExists(atPath: "-"))
        #expect(try names(dir).allSatisfy { !$0.contains(".pull-") })
    }

    @Test func aFileThatAppearsDuringThePullIsKept() async throws {
        let dir = TemporaryDirectory()
        let (_, db) = try await pushed(dir)
        let target = dir.file("copy.emalog")
        // Another process creates the target while the pull is under way.
        let (status, message) = try await pullHeldMidway(db, into: target, in: dir) { _ in
            #expect(FileManager.default.createFile(atPath: target, contents: Data("someone else's".utf8)))
        }
        #expect(status == 64 && message.contains("exists"), "\(status) \(message)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "someone else's")
        #expect(try names(dir).allSatisfy { !$0.contains(".pull-") })
    }

    @Test(arguments: [SIGINT, SIGTERM, SIGHUP])
    func aSignalStopsThePullAndItRemovesWhatItWrote(signal: Int32) async throws {
        let dir = TemporaryDirectory()
        let (_, db) = try await pushed(dir)
        let target = dir.file("copy.emalog")
        let (status, message) = try await pullHeldMidway(db, into: target, in: dir) { pid in kill(pid, signal) }
        #expect(status == 75 && message.contains("stopped before the end"), "\(status) \(message)")
        let after = try names(dir)
        #expect(after.allSatisfy { !$0.hasPrefix("copy.emalog") }, "\(after)")
    }

    @Test func whatAKilledPullLeftIsRemovedByTheNext() async throws {
        let dir = TemporaryDirectory()
        let (log, db) = try await pushed(dir)
        let target = dir.file("copy.emalog")
        // A pull killed with SIGKILL left its file and SQLite's beside it (nobody holds its lock);
        // a live pull's file (its lock held: here by this test), and files of other names, stay.
        let left = ["", "-wal", "-shm"].map { "copy.emalog.pull-4000001" + $0 }
        let kept = ["copy.emalog.pull-4000002", "copy.emalog.pull-notes", "other.emalog.pull-4000001"]
        for name in left + kept { #expect(FileManager.default.createFile(atPath: dir.file(name), contents: Data("x".utf8))) }
        let live = open(dir.file("copy.emalog.pull-4000002"), O_RDONLY)
        defer { close(live) }
        #expect(flock(live, LOCK_EX | LOCK_NB) == 0)
        let pulled = try await CLI.run(["pull", "--db", db, "--run", "r", "-o", target])
        #expect(pulled.status == 0, "\(pulled.stderr)")
        for name in left { #expect(!FileManager.default.fileExists(atPath: dir.file(name)), "\(name)") }
        for name in kept { #expect(FileManager.default.fileExists(atPath: dir.file(name)), "\(name)") }
        #expect(try await base.digest(["--db", target]) == (try base.digest(["--db", log])))
    }

    /// Runs `emalog pull` of run r into `target` held mid-way (a lock on `run_chunks` makes it wait
    /// for its first chunks with its file written beside the target), calls `act` with its pid
    /// there, lets it go on, and returns its exit status and output.
    func pullHeldMidway(_ db: String, into target: String, in dir: TemporaryDirectory,
                        _ act: (pid_t) -> Void) async throws -> (status: Int32, output: String) {
        let release = try await TeamStoreTests.holdLock(db, "BEGIN; LOCK TABLE run_chunks IN ACCESS EXCLUSIVE MODE",
                                                        held: "relation = 'run_chunks'::regclass AND mode = 'AccessExclusiveLock'")
        let out = dir.file("pull.out")
        let pid = try #require(Spawn.start(CLI.binary, ["pull", "--db", db, "--run", "r", "-o", target], output: out))
        try waitForTemp(dir, of: pid)
        act(pid)
        release()
        let status = await Spawn.exitStatus(of: pid)
        return (status, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    /// Waits (60 s at most) until pull `pid` has created its file beside the target.
    func waitForTemp(_ dir: TemporaryDirectory, of pid: pid_t) throws {
        let deadline = Date().addingTimeInterval(60)
        while !(try names(dir)).contains(where: { $0.hasSuffix(".pull-\(pid)") }), Date() < deadline { usleep(10_000) }
        #expect(try names(dir).contains { $0.hasSuffix(".pull-\(pid)") })
    }
}
