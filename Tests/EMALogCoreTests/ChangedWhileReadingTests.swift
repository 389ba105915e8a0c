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

/// A step file truncated or rewritten while ingest reads it (a trainer saving the same step again
/// in place): no SIGBUS through the mapping, but `changedWhileReading` (65) naming the file, and
/// nothing of that step stored. The change is made deterministically between two windows of the
/// read (`IngestHooks.afterWindowRead`), after the first window of the first tensor has been read.
@Suite struct ChangedWhileReadingTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("c.emalog") }

    /// A step of two F32 tensors of `elements` values each (values depend on the step).
    func stepFile(_ step: Int, elements: Int = 8192, name: String? = nil) throws -> String {
        var b = SafetensorsBuilder(step: step)
        b.add("w", shape: [elements], floats: (0..<elements).map { Float($0 % 97) * 0.01 + Float(step) })
        b.add("b", shape: [elements], floats: (0..<elements).map { Float($0 % 13) - Float(step) })
        let path = dir.file(name ?? "step-\(step).safetensors")
        try b.write(to: path)
        return path
    }

    /// Runs an ingest of `inputs` during which `act` runs once, after the first window read from `watched`.
    func ingest(_ inputs: [String], acting watched: String, tracks: [String] = ["0.9"],
                _ act: @escaping @Sendable () -> Void) throws -> IngestReport {
        let once = Mutex(false)
        var request = IngestRequest(logPath: db, inputs: inputs)
        request.tracks = try tracks.map { try EMASpec(parsing: $0) }
        request.hooks.afterWindowRead = { path, _ in
            guard path == watched, once.withLock({ done in defer { done = true }; return !done }) else { return }
            act()
        }
        return try Ingest.run(request)
    }

    func expectUnchangedLog(_ inputs: [String], acting watched: String, expected: IngestError,
                            sourceLocation: SourceLocation = #_sourceLocation, _ act: @escaping @Sendable () -> Void) throws {
        let before = try LogDump.dump(db)
        let error = try #require(throws: IngestError.self, sourceLocation: sourceLocation) {
            try ingest(inputs, acting: watched, act)
        }
        #expect(error == expected, sourceLocation: sourceLocation)
        #expect(try LogDump.dump(db) == before, "the log changed", sourceLocation: sourceLocation)
    }

    @Test func aStepTruncatedWhileReadIsRefusedAndNotStored() throws {
        try Goldens.ingest(db, [try stepFile(1)], tracks: ["0.9"])
        let path = try stepFile(2)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let expected = IngestError.changedWhileReading(path: path, detail: "it was cut short: \(size) bytes when opened, 100 now")
        try expectUnchangedLog([path], acting: path, expected: expected) { _ = truncate(path, 100) }
        #expect("\(expected)".hasPrefix("\(path): changed while it was being read (it was cut short"))
        #expect("\(expected)".contains("re-run when the trainer has finished writing it"))
        // Written whole again, the same command stores it.
        _ = try stepFile(2)
        #expect(try Goldens.ingest(db, [path]).stepsAdded == 1)
    }

    @Test func aStepRewrittenInPlaceAtTheSameSizeIsRefused() throws {
        try Goldens.ingest(db, [try stepFile(1)], tracks: ["0.9"])
        let path = try stepFile(2)
        // An old modification time, so that the rewrite's is different whatever the clock's grain.
        var times = [timeval(tv_sec: 1_600_000_000, tv_usec: 0), timeval(tv_sec: 1_600_000_000, tv_usec: 0)]
        #expect(utimes(path, &times) == 0)
        let other = try Data(contentsOf: URL(fileURLWithPath: try stepFile(3, name: "other")))
        let expected = IngestError.changedWhileReading(path: path, detail: "it was written to (its modification time changed)")
        try expectUnchangedLog([path], acting: path, expected: expected) {
            let fd = open(path, O_WRONLY)
            _ = other.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            close(fd)
        }
    }

    @Test func aPredecessorTruncatedWhileTheNextStepIsEncodedAgainstItIsRefused() throws {
        try Goldens.ingest(db, [try stepFile(1)], tracks: ["0.9"])
        let two = try stepFile(2), three = try stepFile(3)
        let size = try FileManager.default.attributesOfItem(atPath: two)[.size] as! Int
        // Step 2 is stored by this run; step 3's residuals are computed against step 2's mapped bytes.
        let error = try #require(throws: IngestError.self) {
            try ingest([two, three], acting: three) { _ = truncate(two, 100) }
        }
        #expect(error == .changedWhileReading(path: two, detail: "it was cut short: \(size) bytes when opened, 100 now"))
        #expect(try EMALog(openingAt: db).info().lastStep == 2)
    }

    /// Larger than a read window and than a pipelined step: read in 64 MiB windows, written in the
    /// step's own transaction; the log's first step (its tensor set is rolled back too).
    @Test func aLargeFirstStepTruncatedBetweenWindowsLeavesTheLogUnchanged() throws {
        let metrics = dir.file("m.jsonl")
        try "{\"step\": 1, \"loss\": 0.5}\n".write(toFile: metrics, atomically: true, encoding: .utf8)
        try Goldens.ingest(db, [metrics])
        let path = try stepFile(1, elements: 9 << 20)  // 2 x 36 MiB
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        #expect(size > 64 << 20)
        let expected = IngestError.changedWhileReading(path: path, detail: "it was cut short: \(size) bytes when opened, \(1 << 20) now")
        try expectUnchangedLog([path], acting: path, expected: expected) { _ = truncate(path, 1 << 20) }
    }

    /// A change no file check can see (same size, the modification time put back) made after the
    /// step's first read: the chunks the encoder stores differ from what the first read hashed,
    /// so the step is refused (`bytesChanged`, 65 for a file) and nothing of it is stored.
    @Test func aStepRewrittenUnseenAfterItsFirstReadIsCaughtByTheChunkChecksums() throws {
        try Goldens.ingest(db, [try stepFile(1)], tracks: ["0.9"])
        let path = try stepFile(2)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        let other = try Data(contentsOf: URL(fileURLWithPath: try stepFile(3, name: "other")))
        #expect(other.count == size)
        let before = try LogDump.dump(db)
        let once = Mutex(false)
        // The first read ends with the window that reaches the file's end; act right after it.
        var request = IngestRequest(logPath: db, inputs: [path])
        request.hooks.afterWindowRead = { read, end in
            guard read == path, end == size, once.withLock({ done in defer { done = true }; return !done }) else { return }
            var info = stat()
            stat(path, &info)
            let fd = open(path, O_WRONLY)
            _ = other.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
            var times = [info.st_atim, info.st_mtim]
            futimens(fd, &times)
            close(fd)
        }
        let error = try #require(throws: IngestError.self) { try Ingest.run(request) }
        guard case let .bytesChanged(failed, 2, tensor, 0, true) = error else { Issue.record("\(error)"); return }
        #expect(failed == path && ["w", "b"].contains(tensor))
        #expect("\(error)".contains("changed between the step's first read and its storing; nothing of the step was stored"))
        #expect(try LogDump.dump(db) == before, "the log changed")
    }

    /// `--remove-ingested` deletes only what was read: a file renamed over the step file while it
    /// was read (its old content is what got stored) stays, and the report says why.
    @Test func aFileRenamedOverTheStepDuringItsReadIsNotDeleted() throws {
        try Goldens.ingest(db, [try stepFile(1)], tracks: ["0.9"])
        let path = try stepFile(2)
        let newer = try stepFile(3, name: "newer")
        var request = IngestRequest(logPath: db, inputs: [path])
        request.hooks.afterWindowRead = { read, _ in if read == path { _ = rename(newer, path) } }
        request.removeIngested = true
        let report = try Ingest.run(request)
        #expect(report.stepsAdded == 1 && report.filesRemoved == 0)
        #expect(report.removalFailures == ["\(path): kept: it was replaced or changed after it was read"])
        #expect(FileManager.default.fileExists(atPath: path))
        #expect(try StepFile(path: path).step == 3)  // the file renamed over it, never read, is still there
    }
}
