#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMALogCore
import EMALogTestSupport
import Foundation
import Testing

/// Inputs that are not regular files (FIFO, folder, device) are refused with exit 65, naming the
/// file and what it is, without blocking and with the log unchanged; a symbolic link to a regular
/// file is read as that file.
@Suite struct InputFileTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("i.emalog") }
    let source = Fixtures.path("mlp-f32/steps")

    init() throws {
        let first = try dir.copySteps(from: source, to: "first") { $0 <= "step-00000010.safetensors" }
        try Goldens.ingest(db, [first, Fixtures.path("mlp-f32/metrics.jsonl")], tracks: ["0.9"])
    }

    /// A folder holding step 11 and `extra` (made by `make`).
    func folder(with extra: String, _ make: (String) throws -> Void) throws -> (folder: String, extra: String) {
        let folder = try dir.copySteps(from: source, to: "next") { $0 == "step-00000011.safetensors" }
        let path = folder + "/" + extra
        try make(path)
        return (folder, path)
    }

    func expectRefusal(_ inputs: [String], _ expected: IngestError, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try LogDump.dump(db)
        let error = try #require(throws: IngestError.self, sourceLocation: sourceLocation) {
            try Self.withWatchdog(inputs) { try Goldens.ingest(db, inputs) }
        }
        #expect(error == expected, sourceLocation: sourceLocation)
        #expect(try LogDump.dump(db) == before, "the log changed", sourceLocation: sourceLocation)
    }

    /// Runs `body`; should it block on a FIFO among `paths` for 20 s, a writer opens and closes the
    /// FIFO so the test fails instead of hanging.
    static func withWatchdog<T>(_ paths: [String], _ body: () throws -> T) throws -> T {
        let done = Atomic(false)
        let fifos = paths.flatMap { path -> [String] in
            var isFolder: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
            let all = isFolder.boolValue ? ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).map { path + "/" + $0 } : [path]
            return all.filter { p in var s = stat(); return stat(p, &s) == 0 && s.st_mode & S_IFMT == S_IFIFO }
        }
        let watchdog = Thread {
            for _ in 0..<200 where !done.value { usleep(100_000) }
            guard !done.value else { return }
            for fifo in fifos {
                let fd = open(fifo, O_WRONLY | O_NONBLOCK)
                if fd >= 0 { close(fd) }
            }
        }
        watchdog.start()
        defer { done.value = true }
        return try body()
    }

    @Test func aFIFOInAnInputFolderIsRefusedWithoutBlocking() throws {
        let (folder, fifo) = try folder(with: "x.safetensors") { #expect(mkfifo($0, 0o644) == 0) }
        try expectRefusal([folder], .notRegularFile(path: fifo, kind: "a FIFO"))
        #expect("\(IngestError.notRegularFile(path: fifo, kind: "a FIFO"))".hasPrefix(fifo + ": is a FIFO, not a regular file"))
    }

    @Test func aFolderNamedLikeAStepFileIsRefused() throws {
        let (folder, inner) = try folder(with: "x.safetensors") { try FileManager.default.createDirectory(atPath: $0, withIntermediateDirectories: false) }
        try expectRefusal([folder], .notRegularFile(path: inner, kind: "a folder"))
    }

    @Test func nonRegularFilesNamedOnTheCommandLineAreRefused() throws {
        let stepFIFO = dir.file("step-00000011.safetensors")
        #expect(mkfifo(stepFIFO, 0o644) == 0)
        try expectRefusal([stepFIFO], .notRegularFile(path: stepFIFO, kind: "a FIFO"))
        let metricsFIFO = dir.file("more.jsonl")
        #expect(mkfifo(metricsFIFO, 0o644) == 0)
        try expectRefusal([metricsFIFO], .notRegularFile(path: metricsFIFO, kind: "a FIFO"))
        try expectRefusal(["/dev/null"], .notRegularFile(path: "/dev/null", kind: "a character device"))
    }

    @Test func aSymlinkToARegularFileIsReadAsThatFile() throws {
        let link = dir.file("latest.safetensors")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: source + "/step-00000011.safetensors")
        let report = try Goldens.ingest(db, [link])
        #expect(report.stepsAdded == 1)
        let fifo = dir.file("pipe"), toFIFO = dir.file("step-00000012.safetensors")
        #expect(mkfifo(fifo, 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: toFIFO, withDestinationPath: fifo)
        try expectRefusal([toFIFO], .notRegularFile(path: toFIFO, kind: "a FIFO"))
    }
}

/// A Bool shared with a watchdog thread.
final class Atomic: @unchecked Sendable {
    // Guarded by `lock`.
    private var stored: Bool
    private let lock = NSLock()
    init(_ value: Bool) { stored = value }
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
