import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Killing emalog at any moment leaves a log that opens, audits clean, and resumes bit-identically.
/// CI runs a few trials; `EMALOG_CRASH_TRIALS=25 swift test --filter CrashTests` runs the long suite.
@Suite(.serialized) struct CrashTests {
    static let trials = Int(ProcessInfo.processInfo.environment["EMALOG_CRASH_TRIALS"] ?? "") ?? 3
    let dir = TemporaryDirectory()
    let tracks = ["--ema", "0.99", "--ema", "name=w,decay=0.999,schedule=warmup,form=lerp", "--snapshot-every", "16"]

    func shadows(_ db: String) async throws -> [String: [UInt8]] {
        try await Goldens.cliShadows(db, tracks: ["ema-0.99", "w"], in: dir)
    }

    @Test func sigkillAtRandomMomentsThenResume() async throws {
        let steps = dir.file("steps")
        try SyntheticRun.write(steps: 1...120, parameters: 60_000, to: steps)
        let reference = dir.file("reference.emalog")
        #expect(try await CLI.run(["ingest", "--db", reference] + tracks + [steps]).status == 0)
        let expected = try await shadows(reference)
        var generator = SystemRandomNumberGenerator()
        var killedMidway = 0
        for trial in 0..<Self.trials {
            let db = dir.file("trial-\(trial).emalog")
            let running = try CLI.start(["ingest", "--db", db] + tracks + [steps])
            try await Task.sleep(nanoseconds: UInt64(UInt32.random(in: 5_000...400_000, using: &generator)) * 1000)
            if running.isRunning { kill(running.pid, SIGKILL); killedMidway += 1 }
            _ = await running.wait()
            if FileManager.default.fileExists(atPath: db), let info = try? await CLI.run(["info", "--db", db]), info.status == 0 {
                #expect(try await CLI.run(["audit", "--db", db]).status == 0, "trial \(trial): audit after the kill")
            }
            let resumed = try await CLI.run(["ingest", "--db", db] + tracks + [steps])  // the same command again
            #expect(resumed.status == 0, "trial \(trial): \(resumed.stderr)")
            #expect(try await shadows(db) == expected, "trial \(trial): shadows differ from an uninterrupted ingest")
            let audit = try await CLI.run(["audit", "--db", db])
            #expect(audit.status == 0 && audit.stdout.contains("clean"), "trial \(trial): \(audit.stdout)")
        }
        print("crash trials: \(Self.trials), killed mid-ingest: \(killedMidway)")
    }

    /// An ingest with a retention policy killed at any moment: the same command again ends where
    /// an uninterrupted one does (the same raw steps kept, the same shadows), auditing clean.
    @Test func sigkillDuringAnIngestWithAPolicyThenResume() async throws {
        let steps = dir.file("steps")
        try SyntheticRun.write(steps: 1...120, parameters: 60_000, to: steps)
        let policy = ["--raw-every", "8", "--raw-keep-last", "4"]
        let reference = dir.file("reference.emalog")
        #expect(try await CLI.run(["ingest", "--db", reference] + tracks + policy + [steps]).status == 0)
        let expected = try await shadows(reference)
        let expectedRaw = try await rawSteps(reference)
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<Self.trials {
            let db = dir.file("policy-\(trial).emalog")
            let running = try CLI.start(["ingest", "--db", db] + tracks + policy + [steps])
            try await Task.sleep(nanoseconds: UInt64(UInt32.random(in: 5_000...400_000, using: &generator)) * 1000)
            if running.isRunning { kill(running.pid, SIGKILL) }
            _ = await running.wait()
            if FileManager.default.fileExists(atPath: db), let info = try? await CLI.run(["info", "--db", db]), info.status == 0 {
                #expect(try await CLI.run(["audit", "--db", db]).status == 0, "trial \(trial): audit after the kill")
            }
            let resumed = try await CLI.run(["ingest", "--db", db] + tracks + policy + [steps])
            #expect(resumed.status == 0, "trial \(trial): \(resumed.stderr)")
            #expect(try await shadows(db) == expected, "trial \(trial): shadows differ from an uninterrupted ingest")
            #expect(try await rawSteps(db) == expectedRaw, "trial \(trial)")
            #expect(try await CLI.run(["audit", "--db", db]).status == 0, "trial \(trial)")
        }
    }

    /// A prune killed at any moment leaves a log that opens, audits clean and reads the same
    /// shadows; pruning again finishes the job.
    @Test func sigkillDuringAPruneThenPruneAgain() async throws {
        let steps = dir.file("steps")
        try SyntheticRun.write(steps: 1...120, parameters: 60_000, to: steps)
        let reference = dir.file("reference.emalog")
        #expect(try await CLI.run(["ingest", "--db", reference] + tracks + [steps]).status == 0)
        let expected = try await shadows(reference)
        let prune = ["--raw-every", "8", "--raw-keep-last", "4"]
        let uninterrupted = dir.file("uninterrupted.emalog")
        try FileManager.default.copyItem(atPath: reference, toPath: uninterrupted)
        #expect(try await CLI.run(["prune", "--db", uninterrupted] + prune).status == 0)
        let prunedSize = Self.size(uninterrupted)
        var generator = SystemRandomNumberGenerator()
        var killedMidway = 0
        for trial in 0..<Self.trials {
            let db = dir.file("prune-\(trial).emalog")
            try FileManager.default.copyItem(atPath: reference, toPath: db)
            let running = try CLI.start(["prune", "--db", db] + prune)
            try await Task.sleep(nanoseconds: UInt64(UInt32.random(in: 5_000...600_000, using: &generator)) * 1000)
            if running.isRunning { kill(running.pid, SIGKILL); killedMidway += 1 }
            _ = await running.wait()
            #expect(try await CLI.run(["info", "--db", db]).status == 0, "trial \(trial): the log opens after the kill")
            let audit = try await CLI.run(["audit", "--db", db])
            #expect(audit.status == 0, "trial \(trial): \(audit.stdout)")
            #expect(try await shadows(db) == expected, "trial \(trial): shadows after the kill")
            let again = try await CLI.run(["prune", "--db", db] + prune)
            #expect(again.status == 0, "trial \(trial): \(again.stderr)")
            #expect(try await rawSteps(db) == [1] + Array(stride(from: 8, through: 112, by: 8)) + [117, 118, 119, 120], "trial \(trial)")
            #expect(try await shadows(db) == expected, "trial \(trial): shadows after the prune")
            // A prune killed after its commit, before the file was compacted: the next one compacts it.
            #expect(Self.size(db) <= prunedSize + prunedSize / 10, "trial \(trial): \(Self.size(db)) bytes, \(prunedSize) uninterrupted")
            #expect(try await CLI.run(["audit", "--db", db]).status == 0, "trial \(trial)")
        }
        print("prune crash trials: \(Self.trials), killed mid-prune: \(killedMidway)")
    }

    /// The log file's bytes and its WAL's.
    static func size(_ path: String) -> Int {
        ["", "-wal"].reduce(0) { $0 + ((try? FileManager.default.attributesOfItem(atPath: path + $1)[.size] as? Int) ?? 0) }
    }

    /// The steps with raw weights, read with sqlite3 (a read-only look at the `raw` column).
    func rawSteps(_ db: String) async throws -> [Int] {
        try await LogDump.run("/usr/bin/sqlite3", ["-readonly", db, "SELECT step FROM steps WHERE raw = 1 ORDER BY step"])
            .split(separator: "\n").compactMap { Int($0) }
    }

    /// A replace killed at any moment: the same command again leaves the log as an uninterrupted
    /// replace does (every snapshot it took away written again, the same shadows).
    @Test func sigkillDuringAReplaceThenResume() async throws {
        let steps = dir.file("steps")
        try SyntheticRun.write(steps: 1...120, parameters: 60_000, to: steps)
        var changed = try SafetensorsBuilder(copying: steps + "/step-00000010.safetensors")
        changed.tensors[0].bytes[5] ^= 0x08
        let replacement = dir.file("step-00000010.safetensors")
        try changed.write(to: replacement)
        let reference = dir.file("reference.emalog")
        #expect(try await CLI.run(["ingest", "--db", reference] + tracks + [steps]).status == 0)
        #expect(try await CLI.run(["ingest", "--db", reference, "--replace", replacement]).status == 0)
        let expected = try await shadows(reference)
        let snapshots = try await CLI.run(["info", "--db", reference]).stdout.split(separator: "\n").filter { $0.contains("snapshot") }
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<Self.trials {
            let db = dir.file("replace-\(trial).emalog")
            #expect(try await CLI.run(["ingest", "--db", db] + tracks + [steps]).status == 0)
            let pid = try #require(Spawn.start(CLI.binary, ["ingest", "--db", db, "--replace", replacement]))
            try await Task.sleep(nanoseconds: UInt64(UInt32.random(in: 5_000...300_000, using: &generator)) * 1000)
            kill(pid, SIGKILL)
            _ = await Spawn.exitStatus(of: pid)
            #expect(try await CLI.run(["audit", "--db", db]).status == 0, "trial \(trial): audit after the kill")
            let resumed = try await CLI.run(["ingest", "--db", db, "--replace", replacement])  // the same command again
            #expect(resumed.status == 0, "trial \(trial): \(resumed.stderr)")
            #expect(try await shadows(db) == expected, "trial \(trial): shadows differ from an uninterrupted replace")
            let now = try await CLI.run(["info", "--db", db]).stdout.split(separator: "\n").filter { $0.contains("snapshot") }
            #expect(now == snapshots, "trial \(trial): \(now) against \(snapshots)")
        }
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func followStopsOnSignalWithEverythingWhole(signal: Int32) async throws {
        let source = dir.file("source-\(signal)")
        try SyntheticRun.write(steps: 1...12, parameters: 5_000, to: source)
        let watched = dir.file("watched-\(signal)")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        let db = dir.file("follow-\(signal).emalog")
        let follower = try CLI.start(["ingest", "--db", db, "--follow", "--poll-interval", "0.02"] + tracks + [watched])
        for name in try FileManager.default.contentsOfDirectory(atPath: source).sorted() {
            try FileManager.default.copyItem(atPath: source + "/" + name, toPath: watched + "/" + name + ".tmp")
            try FileManager.default.moveItem(atPath: watched + "/" + name + ".tmp", toPath: watched + "/" + name)
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        // Until the follower has every step (a bounded wait on that, not a fixed sleep).
        let deadline = Date().addingTimeInterval(60)
        while await !(try CLI.run(["info", "--db", db]).stdout.contains("steps        12 (1 ... 12)")), Date() < deadline { try await Task.sleep(nanoseconds: 20_000_000) }
        let second = try await CLI.run(["ingest", "--db", db, source])
        #expect(second.status == 75 && second.stderr.contains("being written by another"), "\(second.stderr)")
        let reader = try await CLI.run(["info", "--db", db])
        #expect(reader.status == 0, "readers work while an ingest writes: \(reader.stderr)")
        kill(follower.pid, signal)
        let ended = await follower.wait()
        #expect(ended.status == 0, "\(ended.stderr)")
        #expect(ended.stderr.contains("added 12 steps"))
        let reference = dir.file("follow-ref-\(signal).emalog")
        #expect(try await CLI.run(["ingest", "--db", reference] + tracks + [source]).status == 0)
        #expect(try await shadows(db) == shadows(reference))
    }
}
