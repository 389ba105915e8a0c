import EMALogTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Logs from elsewhere: not SQLite, newer, truncated, on a read-only path, on a full disk. Clear
/// errors (exit 74), nothing stored is lost, and a log that cannot be used is never modified.
@Suite(.serialized) struct LogFileTests {
    let dir = TemporaryDirectory()
    let steps = Fixtures.path("mlp-f32/steps")

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    func makeLog(_ path: String) async throws {
        #expect(try await CLI.run(["ingest", "--db", path, "--ema", "0.9", steps]).status == 0)
        _ = try await LogDump.run("/usr/bin/sqlite3", [path, "PRAGMA wal_checkpoint(TRUNCATE);"])
    }

    @Test func aLogFromANewerEmalogIsRefusedByEveryCommand() async throws {
        let db = dir.file("newer.emalog")
        try await makeLog(db)
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, "INSERT INTO grdb_migrations VALUES ('0099_future'); PRAGMA wal_checkpoint(TRUNCATE);"])
        let before = try bytes(db)
        for args in [["info"], ["audit"], ["metrics"], ["ingest", steps], ["shadow", "-o", dir.file("x")]] {
            let r = try await CLI.run([args[0], "--db", db] + args.dropFirst())
            #expect(r.status == 74 && r.stderr.contains("written by a newer emalog") && r.stderr.contains("0099_future"), "\(args): \(r.stderr)")
        }
        #expect(try bytes(db) == before)
    }

    @Test func aTruncatedLogIsRefusedUntouched() async throws {
        let db = dir.file("cut.emalog")
        try await makeLog(db)
        let whole = try bytes(db)
        try whole.prefix(whole.count / 2).write(to: URL(fileURLWithPath: db))
        let before = try bytes(db)
        for args in [["info"], ["ingest", steps], ["shadow", "-o", dir.file("x")], ["audit"]] {
            let r = try await CLI.run([args[0], "--db", db] + args.dropFirst())
            #expect(r.status == 74 && r.stderr.contains("truncated"), "\(args): \(r.status) \(r.stderr)")
        }
        #expect(try bytes(db) == before)
    }

    /// Mounts need root with CAP_SYS_ADMIN: whether this machine allows them (a tmpfs mounted and
    /// unmounted once); the tests that mount are skipped, as skips, where it does not.
    static let mountsWork: Bool = {
        let probe = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-mount-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: probe) }
        guard Spawn.run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe]).status == 0 else { return false }
        return Spawn.run("/bin/umount", [probe]).status == 0
    }()

    /// Runs mount; false (recorded as a failure by the caller) when it fails.
    func mount(_ args: [String]) -> Bool { Spawn.run("/bin/mount", args).status == 0 }

    func unmount(_ path: String) { _ = try? LogDump.run("/bin/umount", [path]) }

    @Test(.enabled(if: Self.mountsWork, "needs root with CAP_SYS_ADMIN to mount"))
    func aLogOnAReadOnlyPathCanBeReadButNotWritten() async throws {
        let source = dir.file("src"), readOnly = dir.file("ro")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: readOnly, withIntermediateDirectories: true)
        try await makeLog(source + "/run.emalog")
        try #require(mount(["--bind", source, readOnly]), "cannot bind-mount here")
        defer { unmount(readOnly) }
        try #require(mount(["-o", "remount,bind,ro", readOnly]), "cannot remount read-only")
        let db = readOnly + "/run.emalog"
        let before = try bytes(db)
        #expect(try await CLI.run(["info", "--db", db]).status == 0)
        #expect(try await CLI.run(["shadow", "--db", db, "-o", dir.file("ro.safetensors")]).status == 0)
        #expect(try await CLI.run(["metrics", "--db", db]).status == 0)
        let extra = try dir.copySteps(from: Fixtures.path("mlp-sparse/steps"), to: "more") { _ in true }
        let r = try await CLI.run(["ingest", "--db", db, extra])
        #expect(r.status == 74 && r.stderr.lowercased().contains("read-only"), "\(r.stderr)")
        #expect(try bytes(db) == before)
    }

    @Test(.enabled(if: Self.mountsWork, "needs root with CAP_SYS_ADMIN to mount"))
    func aFullDiskStopsCleanlyAndKeepsWhatWasCommitted() async throws {
        let small = dir.file("small")
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        try #require(mount(["-t", "tmpfs", "-o", "size=3m", "tmpfs", small]), "cannot mount tmpfs")
        defer { unmount(small) }
        let run = dir.file("big")
        try SyntheticRun.write(steps: 1...40, parameters: 50_000, to: run)  // 8 MB of steps for a 3 MB disk
        let db = small + "/run.emalog"
        let r = try await CLI.run(["ingest", "--db", db, "--ema", "0.9", run])
        #expect(r.status == 74 && r.stderr.contains("disk is full"), "\(r.status) \(r.stderr)")
        let info = try await CLI.run(["info", "--db", db, "--json"])
        #expect(info.status == 0, "\(info.stderr)")
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 0, "\(audit.stdout) \(audit.stderr)")
        print("full disk: \(info.stdout)")
    }
}
