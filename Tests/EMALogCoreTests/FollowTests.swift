#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
@testable import EMALogCore
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Synchronization
import Testing

/// The stop token of the ingest a test runs (one at a time: the suite is serialized).
private enum Stop {
    nonisolated(unsafe) static var token = StopToken()
    static func reset() { token = StopToken() }
    static func request() { token.request() }
}

/// `--follow`: files appear while training runs; half-written files are waited for; a stop commits
/// what is whole. (Serialized: the stop flag is process-wide.)
@Suite(.serialized) struct FollowTests {
    @Test func picksUpFilesAsTheyAppearAndStopsCleanly() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("f.emalog"), whole = dir.file("whole.emalog")
        let watched = dir.file("steps")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        let metrics = dir.file("metrics.jsonl")
        _ = FileManager.default.createFile(atPath: metrics, contents: nil)
        let source = Fixtures.path("mlp-f32/steps")
        for n in 1...3 {
            try FileManager.default.copyItem(atPath: "\(source)/step-\(String(format: "%08d", n)).safetensors",
                                             toPath: "\(watched)/step-\(String(format: "%08d", n)).safetensors")
        }
        Stop.reset()
        var request = IngestRequest(logPath: db, inputs: [watched, metrics])
        request.stop = Stop.token
        request.tracks = [try EMASpec(parsing: "name=timm,decay=0.999,schedule=warmup,form=lerp")]
        request.follow = true
        request.pollInterval = 0.02
        let task = Task.detached { try Ingest.run(request) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: metrics))
        for n in 4...10 {
            let name = "step-\(String(format: "%08d", n)).safetensors"
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(source)/\(name)"))
            if n == 6 {
                // Written in place in two halves: must be waited for, never read half-way.
                try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: "\(watched)/\(name)"))
                try await Task.sleep(for: .milliseconds(150))
                try bytes.write(to: URL(fileURLWithPath: "\(watched)/\(name)"))
            } else {
                // The trainer's way: write *.tmp, then rename.
                try bytes.write(to: URL(fileURLWithPath: "\(watched)/\(name).tmp"))
                try await Task.sleep(for: .milliseconds(30))
                try FileManager.default.moveItem(atPath: "\(watched)/\(name).tmp", toPath: "\(watched)/\(name)")
            }
            handle.write(Data("{\"step\": \(n), \"loss\": \(Double(n) / 8)}\n{\"step\": \(n), \"lr\"".utf8))
            handle.write(Data(": 0.5}\n".utf8))
            try await Task.sleep(for: .milliseconds(30))
        }
        // Stop once everything is stored (a bounded wait on that, not a fixed sleep).
        #expect(try await Self.wait(upTo: 60) {
            Self.stepCount(db) == 10 && (try? EMALog(openingAt: db).metrics(keys: ["lr"]).rows.count) == 7
        })
        Stop.request()
        let report = try await task.value
        Stop.reset()
        #expect(report.interrupted)
        #expect(report.stepsAdded == 10)
        #expect(report.metricValues == 14)
        try Goldens.ingest(whole, (1...10).map { "\(source)/step-\(String(format: "%08d", $0)).safetensors" },
                           tracks: ["name=timm,decay=0.999,schedule=warmup,form=lerp"])
        let a = try Goldens.shadow(db, step: 10, .only, in: dir)
        let b = try Goldens.shadow(whole, step: 10, .only, in: dir)
        #expect(a.tensors.mapValues(\.bytes) == b.tensors.mapValues(\.bytes))
        #expect(try EMALog(openingAt: db).info().tracks[0].snapshotSteps.last == 10)
        #expect(try EMALog(openingAt: db).metrics(keys: ["loss"]).rows.count == 7)
        // A second follow session over the same folder (the run resumed) appends 11-12; the audit
        // trail then holds two ingests and the sequence they recorded raises no finding.
        for n in 11...12 {
            try FileManager.default.copyItem(atPath: "\(source)/step-\(String(format: "%08d", n)).safetensors",
                                             toPath: "\(watched)/step-\(String(format: "%08d", n)).safetensors")
        }
        var resumed = request
        resumed.stop = Stop.token
        let again = Task.detached { [resumed] in try Ingest.run(resumed) }
        #expect(try await Self.wait(upTo: 60) { Self.stepCount(db) == 12 })
        Stop.request()
        let second = try await again.value
        Stop.reset()
        #expect(second.stepsAdded == 2 && second.stepsSkipped == 10)
        let audit = try EMALog(openingAt: db).audit()
        #expect(audit.isClean, "\(audit.problems)")
        #expect(audit.ingestsChecked == 2 && audit.stepsChecked == 12)
    }

    @Test func aHalfWrittenFileAtStartIsWaitedForAndLaterStepsWaitBehindIt() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("f.emalog")
        let source = Fixtures.path("mlp-f32/steps")
        let watched = try dir.copySteps(from: source, to: "steps") { $0 <= "step-00000003.safetensors" }
        let four = try Data(contentsOf: URL(fileURLWithPath: source + "/step-00000004.safetensors"))
        try four.prefix(100).write(to: URL(fileURLWithPath: watched + "/step-00000004.safetensors"))
        try FileManager.default.copyItem(atPath: source + "/step-00000005.safetensors", toPath: watched + "/step-00000005.safetensors")
        Stop.reset()
        var request = IngestRequest(logPath: db, inputs: [watched])
        request.stop = Stop.token
        request.tracks = [try EMASpec(parsing: "0.9")]
        request.follow = true
        request.pollInterval = 0.02
        let task = Task.detached { try Ingest.run(request) }
        try await Task.sleep(for: .milliseconds(300))
        try four.write(to: URL(fileURLWithPath: watched + "/step-00000004.safetensors"))
        #expect(try await Self.wait(upTo: 60) { Self.stepCount(db) == 5 })
        Stop.request()
        let report = try await task.value
        Stop.reset()
        #expect(report.stepsAdded == 5)
        let got = try Goldens.shadow(db, step: 5, .only, in: dir)
        let whole = dir.file("whole.emalog")
        try Goldens.ingest(whole, (1...5).map { "\(source)/step-\(String(format: "%08d", $0)).safetensors" }, tracks: ["0.9"])
        #expect(got.tensors.mapValues(\.bytes) == (try Goldens.shadow(whole, step: 5, .only, in: dir)).tensors.mapValues(\.bytes))
    }

    /// Collects warnings from an ingest running on another thread.
    final class Warnings: ProgressObserver, @unchecked Sendable {
        // Guarded by `lock`.
        private var stored: [String] = []
        private let lock = NSLock()
        func progress(_ label: String, done: Int, total: Int) {}
        func warning(_ message: String) { lock.withLock { stored.append(message) } }
        var messages: [String] { lock.withLock { stored } }
    }

    /// A small step file (two F32 tensors) for step `n` in `folder`.
    static func writeStep(_ n: Int, in folder: String, truncatedTo length: Int? = nil) throws -> String {
        var b = SafetensorsBuilder(step: n)
        b.add("w", shape: [4, 4], floats: (0..<16).map { Float($0) + Float(n) })
        b.add("b", shape: [4], floats: (0..<4).map { Float($0) - Float(n) })
        let path = "\(folder)/step-\(String(format: "%08d", n)).safetensors"
        let bytes = b.bytes()
        try Data(bytes.prefix(length ?? bytes.count)).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Starts a followed ingest of `inputs`; returns the running task.
    static func startFollowing(_ db: String, _ inputs: [String], poll: Double, observer: Warnings = Warnings())
        -> Task<IngestReport, any Error>
    {
        Stop.reset()
        var request = IngestRequest(logPath: db, inputs: inputs)
        request.stop = Stop.token
        request.follow = true
        request.pollInterval = poll
        return Task.detached { try Ingest.run(request, observer: observer) }
    }

    /// Waits until `condition` holds (checked every 20 ms), at most `seconds`; returns whether it did.
    static func wait(upTo seconds: Double, _ condition: () throws -> Bool) async throws -> Bool {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            if (try? condition()) == true { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try condition()
    }

    static func stepCount(_ db: String) -> Int { (try? EMALog(openingAt: db).info().stepCount) ?? 0 }

    @Test func aBacklogPresentAtStartDrainsInOneScan() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("b.emalog"), watched = dir.file("steps")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        for n in 1...120 { _ = try Self.writeStep(n, in: watched) }
        let poll = 4.0
        let started = Date()
        let task = Self.startFollowing(db, [watched], poll: poll)
        // The old loop took one file per poll interval (120 intervals, 480 s); all are taken by the
        // first scan: well within 30 s, even on a machine busy with other work.
        let drained = try await Self.wait(upTo: 30) { Self.stepCount(db) == 120 }
        let elapsed = Date().timeIntervalSince(started)
        Stop.request()
        let report = try await task.value
        Stop.reset()
        #expect(drained, "\(Self.stepCount(db)) of 120 steps after \(elapsed) s")
        #expect(report.stepsAdded == 120 && report.backlog.isEmpty && report.incomplete.isEmpty)
    }

    @Test func onStopTheRealBacklogIsReported() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("s.emalog"), watched = dir.file("steps")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        for n in 1...3 { _ = try Self.writeStep(n, in: watched) }
        let four = try Self.writeStep(4, in: watched, truncatedTo: 100)
        let five = try Self.writeStep(5, in: watched)
        let six = try Self.writeStep(6, in: watched, truncatedTo: 150)
        let warnings = Warnings()
        let task = Self.startFollowing(db, [watched], poll: 30, observer: warnings)
        #expect(try await Self.wait(upTo: 60) { Self.stepCount(db) == 3 })
        try await Task.sleep(for: .milliseconds(300))  // the scan has stopped at step 4 and sleeps
        _ = try Self.writeStep(4, in: watched)  // whole now, but not read before the stop
        Stop.request()
        let report = try await task.value
        Stop.reset()
        #expect(report.stepsAdded == 3)
        #expect(report.backlog == [four, five])
        #expect(report.incomplete == [six])
        #expect(warnings.messages.contains("\(six): still incomplete when stopped (150 bytes, short of what its header declares); it was not ingested"))
        #expect(warnings.messages.contains("stopped with 2 complete step files not yet ingested (from \(four) to \(five)); run the same command again to ingest them"))
        #expect(!warnings.messages.contains { $0.hasPrefix(four) })
    }

    @Test func missingInputsAreWaitedFor() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("w.emalog"), watched = dir.file("later/steps"), metrics = dir.file("later/metrics.jsonl")
        // Without --follow a missing input is still 66.
        #expect(throws: IngestError.inputNotFound(path: watched)) { try Goldens.ingest(db, [watched, metrics]) }
        let warnings = Warnings()
        let task = Self.startFollowing(db, [watched, metrics], poll: 0.02, observer: warnings)
        try await Task.sleep(for: .milliseconds(200))
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        for n in 1...3 { _ = try Self.writeStep(n, in: watched) }
        try "{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"loss\": 0.25}\n".write(toFile: metrics, atomically: true, encoding: .utf8)
        let arrived = try await Self.wait(upTo: 60) {
            try Self.stepCount(db) == 3 && EMALog(openingAt: db).metrics(keys: ["loss"]).rows.count == 2
        }
        Stop.request()
        let report = try await task.value
        Stop.reset()
        #expect(arrived)
        #expect(report.stepsAdded == 3 && report.metricValues == 2)
        let waiting = warnings.messages.filter { $0.contains("does not exist yet") }
        #expect(waiting == ["\(watched): does not exist yet; waiting for it to appear",
                            "\(metrics): does not exist yet; waiting for it to appear"])
    }

    @Test func aMetricsFileTruncatedOrReplacedWhileFollowedIsReadAgain() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("m.emalog"), metrics = dir.file("metrics.jsonl")
        func lines(_ steps: ClosedRange<Int>) -> String { steps.map { "{\"step\": \($0), \"loss\": \(Double($0) / 4)}\n" }.joined() }
        try lines(1...5).write(toFile: metrics, atomically: false, encoding: .utf8)
        let warnings = Warnings()
        let task = Self.startFollowing(db, [metrics], poll: 0.02, observer: warnings)
        func stored() throws -> Int { try EMALog(openingAt: db).metrics(keys: ["loss"]).rows.count }
        #expect(try await Self.wait(upTo: 60) { try stored() == 5 })
        // Truncated and written again in place (a restarted trainer): shorter than what was read.
        try lines(1...2).write(toFile: metrics, atomically: false, encoding: .utf8)
        try await Task.sleep(for: .milliseconds(200))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: metrics))
        handle.seekToEndOfFile()
        handle.write(Data(lines(3...8).utf8))
        try handle.close()
        #expect(try await Self.wait(upTo: 60) { try stored() == 8 })
        // Replaced by a rename with a file longer than what was read.
        let replacement = dir.file("new.jsonl")
        try lines(1...10).write(toFile: replacement, atomically: false, encoding: .utf8)
        try FileManager.default.removeItem(atPath: metrics)
        try FileManager.default.moveItem(atPath: replacement, toPath: metrics)
        #expect(try await Self.wait(upTo: 60) { try stored() == 10 })
        // A bad line is named by its real line number in the file as it is now.
        let more = try FileHandle(forWritingTo: URL(fileURLWithPath: metrics))
        more.seekToEndOfFile()
        more.write(Data(("{\"step\": 11, \"loss\": }\n" + lines(12...12)).utf8))
        try more.close()
        let error = try await #require(throws: IngestError.self) { try await task.value }
        Stop.reset()
        guard case .badMetricsLine(metrics, 11, _) = error else { Issue.record("\(error)"); return }
        #expect(try stored() == 10)
        #expect(warnings.messages.contains { $0.hasPrefix("\(metrics): it was truncated (") && $0.hasSuffix("reading it again from its first line (values already stored are no-ops)") })
        #expect(warnings.messages.contains("\(metrics): it was replaced by another file while followed; reading it again from its first line (values already stored are no-ops)"))
    }

    @Test func aFIFOInAFollowedFolderIsRefusedWithoutHanging() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("p.emalog"), watched = dir.file("steps")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        _ = try Self.writeStep(1, in: watched)
        let task = Self.startFollowing(db, [watched], poll: 0.02)
        #expect(try await Self.wait(upTo: 60) { Self.stepCount(db) == 1 })
        let fifo = watched + "/step-00000002.safetensors"
        #expect(mkfifo(fifo, 0o644) == 0)
        // Should the loop block on the FIFO, a writer comes after 20 s so the test fails rather than hangs.
        let watchdog = Task.detached {
            try await Task.sleep(for: .seconds(20))
            let fd = open(fifo, O_WRONLY | O_NONBLOCK)
            if fd >= 0 { close(fd) }
        }
        let error = try await #require(throws: IngestError.self) { try await task.value }
        watchdog.cancel()
        Stop.reset()
        #expect(error == .notRegularFile(path: fifo, kind: "a FIFO"))
    }

    @Test func aStepRewrittenWhileFollowedIsReadAgainOnceWhole() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("r.emalog"), watched = dir.file("steps")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        _ = try Self.writeStep(1, in: watched)
        let two = try Self.writeStep(2, in: watched)
        let once = Mutex(false)
        var request = IngestRequest(logPath: db, inputs: [watched])
        request.hooks.afterWindowRead = { path, _ in
            guard path == two, once.withLock({ done in defer { done = true }; return !done }) else { return }
            _ = truncate(two, 100)  // the trainer saves step 2 again, in place
        }
        Stop.reset()
        request.stop = Stop.token
        request.follow = true
        request.pollInterval = 0.02
        request.tracks = [try EMASpec(parsing: "0.9")]
        let warnings = Warnings()
        let task = Task.detached { try Ingest.run(request, observer: warnings) }
        #expect(try await Self.wait(upTo: 60) { warnings.messages.contains { $0.hasPrefix(two + ": changed while it was being read") } })
        _ = try Self.writeStep(2, in: watched)
        _ = try Self.writeStep(3, in: watched)
        #expect(try await Self.wait(upTo: 60) { Self.stepCount(db) == 3 })
        Stop.request()
        let report = try await task.value
        Stop.reset()
        #expect(report.stepsAdded == 3)
        // The shadow equals one computed from the three files in one plain ingest.
        let whole = dir.file("whole.emalog")
        try Goldens.ingest(whole, (1...3).map { "\(watched)/step-\(String(format: "%08d", $0)).safetensors" }, tracks: ["0.9"])
        let a = try Goldens.shadow(db, step: 3, .only, in: dir), b = try Goldens.shadow(whole, step: 3, .only, in: dir)
        #expect(a.tensors.mapValues(\.bytes) == b.tensors.mapValues(\.bytes))
    }

    @Test func aNamedStepFileStillBeingWrittenIsWaitedForInStepOrder() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("n.emalog"), watched = dir.file("steps")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        _ = try Self.writeStep(2, in: watched)
        let named = try Self.writeStep(1, in: dir.path, truncatedTo: 100)
        let task = Self.startFollowing(db, [named, watched], poll: 0.02)
        try await Task.sleep(for: .milliseconds(300))
        #expect(Self.stepCount(db) == 0)  // step 2 waits behind the half-written step 1
        _ = try Self.writeStep(1, in: dir.path)
        #expect(try await Self.wait(upTo: 60) { Self.stepCount(db) == 2 })
        Stop.request()
        let report = try await task.value
        Stop.reset()
        #expect(report.stepsAdded == 2 && report.stepsSkipped == 0)
    }
}
