#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
@testable import EMALogCore
import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Synchronization
import Testing

/// Steps larger than every size emalog handles in parts, through every input path, stored exactly:
/// each raw step read back equals the bytes it came from, the shadow equals one computed here
/// element by element, and the audit is clean. The large tensor is above the 64 MiB read window,
/// the 64 MiB a mapped file keeps resident, the 64 MiB up to which a step is written pipelined,
/// four 16 MiB chunks, and the 1 MiB pipe and stream buffers; small tensors of other dtypes sort
/// before and after it, so it starts at an offset that is no multiple of anything.
@Suite struct LargeStepTests {
    let dir = TemporaryDirectory()

    /// 17 Mi F32 elements: 68 MiB.
    static let elements = 17 << 20
    static let steps = 1...3
    static let decay = 0.9

    /// Step `step`'s file: "a" (BOOL [3]), "big" (F32), "c" (BF16 [5]), "d" (I64 [3]); values change a little each step.
    static func file(_ step: Int) -> [UInt8] {
        var big = [Float](repeating: 0, count: elements)
        var state = UInt64(0x9E37_79B9_7F4A_7C15)
        for i in big.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            big[i] = Float(Int32(truncatingIfNeeded: state >> 33)) * 0x1p-31 + Float(step) * 0x1p-7
        }
        var b = SafetensorsBuilder(step: step)
        b.add("a", dtype: .bool, shape: [3], bytes: [1, 0, UInt8(step % 2)])
        b.add("big", shape: [elements], floats: big)
        b.add("c", dtype: .bf16, shape: [5], bytes: (0..<10).map { UInt8(truncatingIfNeeded: $0 * 7 + step) & 0x3F })
        b.add("d", dtype: .i64, shape: [3], bytes: [Int64(step), -1, 1 << 40].withUnsafeBytes { Array($0) })
        var data: [UInt8] = []
        data.reserveCapacity(elements * 4 + 64)
        for t in b.tensors { data.append(contentsOf: t.bytes) }
        return SafetensorsBuilder.file(header: b.headerJSON(), data: data)
    }

    static let files: [[UInt8]] = steps.map(file)

    enum Path: String, CaseIterable {
        case stepFiles, frames, fileRecords, follow, sharedSlots
    }

    /// Writes the steps as files in `folder`; returns their paths.
    func writeFiles(in folder: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        return try zip(Self.steps, Self.files).map { step, bytes in
            let path = "\(folder)/step-\(step).safetensors"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            return path
        }
    }

    @Test(arguments: Path.allCases)
    func stepsAboveEveryThresholdAreStoredExactly(path: Path) throws {
        let db = dir.file("\(path).emalog")
        let folder = dir.file("steps-\(path)")
        var request = IngestRequest(logPath: db, inputs: [])
        request.tracks = [try EMASpec(parsing: "\(Self.decay)")]
        let report: IngestReport
        switch path {
        case .stepFiles:
            request.inputs = try writeFiles(in: folder)
            report = try Ingest.run(request)
        case .frames:
            report = try StreamFeed.ingest(request, records: Self.files.enumerated().flatMap { k, bytes in
                [StreamFeed.metrics("{\"step\": \(k + 1), \"loss\": \(k)}"), StreamFeed.frame(bytes)]
            })
        case .sharedSlots:
            // Three slots for three steps written in turn, each filled only once emalog released it.
            let ring = SlotRingFeed(slots: 3, slotBytes: Self.files.map(\.count).max()!)
            request.sharedMemoryDescriptor = ring.fd
            report = try StreamFeed.ingest(request) { send in
                for (k, bytes) in Self.files.enumerated() {
                    send(StreamFeed.metrics("{\"step\": \(k + 1), \"loss\": \(k)}"))
                    guard let record = ring.put(bytes, slot: k % ring.slotCount) else { return }
                    send(record)
                }
            }
            #expect((0..<ring.slotCount).allSatisfy { ring.released($0) == ring.filled($0) }, "every slot handed back")
        case .fileRecords:
            let paths = try writeFiles(in: folder)
            report = try StreamFeed.ingest(request, records: paths.map { Array("F\($0)\n".utf8) })
        case .follow:
            request.inputs = [folder]
            request.follow = true
            request.pollInterval = 0.01
            request.stop = StopToken()
            let stop = request.stop
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            // The ingest on a thread of its own: a blocking wait on the cooperative pool could starve it.
            let outcome = Mutex<Result<IngestReport, any Error>?>(nil)
            let thread = Thread { [request] in
                let result = Result { try Ingest.run(request) }
                outcome.withLock { $0 = result }
            }
            thread.start()
            // Each step appears as a trainer writes it: *.tmp, then renamed.
            for (step, bytes) in zip(Self.steps, Self.files) {
                try Data(bytes).write(to: URL(fileURLWithPath: "\(folder)/step-\(step).safetensors.tmp"))
                try FileManager.default.moveItem(atPath: "\(folder)/step-\(step).safetensors.tmp",
                                                 toPath: "\(folder)/step-\(step).safetensors")
            }
            let deadline = Date().addingTimeInterval(600)
            while outcome.withLock({ $0 == nil }), (try? EMALog(openingAt: db).info().lastStep) != Self.steps.upperBound,
                  Date() < deadline {
                usleep(20_000)
            }
            stop.request()
            while outcome.withLock({ $0 == nil }) { usleep(10_000) }
            report = try outcome.withLock { $0! }.get()
        }
        #expect(report.stepsAdded == Self.steps.count)
        try expectStoredExactly(db)
    }

    /// Every raw step equals its source byte for byte, the track equals the EMA computed here, the
    /// source hash is the file's, and the audit is clean.
    func expectStoredExactly(_ db: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let log = try EMALog(openingAt: db)
        for (step, source) in zip(Self.steps, Self.files) {
            let out = dir.file("raw-\(UUID().uuidString).safetensors")
            _ = try log.writeRaw(atStep: step, to: out, format: .safetensors)
            let back = try LoadedSafetensors(path: out)
            let expected = try LoadedSafetensors(bytes: source)
            for name in ["a", "big", "c", "d"] {
                let (b, e) = (back.tensors[name]?.bytes, expected.tensors[name]?.bytes)
                #expect(b == e, "step \(step) tensor \(name): \(b.map { Self.firstDifference($0, e ?? []) } ?? "missing")",
                        sourceLocation: sourceLocation)
            }
            try FileManager.default.removeItem(atPath: out)
        }
        let hashes = try log.store.read { r in try Self.steps.map { try r.stepRecord($0)?.sourceHash } }
        #expect(hashes == Self.files.map { $0.withUnsafeBytes { XXH64.hash($0) } }, sourceLocation: sourceLocation)
        let shadow = try Goldens.shadow(db, step: Self.steps.upperBound, .only, in: dir)
        #expect(shadow.tensors["big"]?.bytes == Self.referenceShadow(), sourceLocation: sourceLocation)
        let audit = try log.audit()
        #expect(audit.findings.isEmpty, "\(audit.findings)", sourceLocation: sourceLocation)
    }

    static func firstDifference(_ a: [UInt8], _ b: [UInt8]) -> String {
        guard a.count == b.count else { return "\(a.count) bytes, expected \(b.count)" }
        let first = a.indices.first { a[$0] != b[$0] } ?? -1
        let zeros = stride(from: 0, to: a.count, by: 4).count { i in a[i..<(i + 4)].allSatisfy { $0 == 0 } }
        return "first difference at byte \(first); \(zeros) of \(a.count / 4) words are zero"
    }

    /// The constant-decay track (`form=seed`) at the last step, element by element: each product
    /// and the sum rounded to Float32 in its own statement (no fused multiply-add).
    static func referenceShadow() -> [UInt8] {
        let c1 = Float(1.0 - decay), c2 = Float(decay)
        var shadow: [Float] = []
        for bytes in files {
            let theta = try! LoadedSafetensors(bytes: bytes).floats("big")
            if shadow.isEmpty { shadow = theta; continue }
            for i in shadow.indices {
                let p = c1 * theta[i]
                let q = c2 * shadow[i]
                shadow[i] = p + q
            }
        }
        return shadow.withUnsafeBytes { Array($0) }
    }

    /// A tensor over 2 GiB (offsets past Int32), where memory allows: two steps (a keyframe and a
    /// residual), each read back byte for byte equal to its file.
    @Test(.enabled(if: ProcessInfo.processInfo.physicalMemory >= 16 << 30, "needs 16 GiB of memory"))
    func aTensorOver2GiBIsStoredExactly() throws {
        let elements = (1 << 31) + 24  // U8: 2 GiB + 24 bytes
        let folder = dir.file("huge")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var paths: [String] = []
        for step in 1...2 {
            let path = "\(folder)/step-\(step).safetensors"
            try Self.writeHugeStep(path, step: step, bytes: elements)
            paths.append(path)
        }
        let db = dir.file("huge.emalog")
        var request = IngestRequest(logPath: db, inputs: paths)
        request.tracks = [try EMASpec(parsing: "0.9")]
        #expect(try Ingest.run(request).stepsAdded == 2)
        let log = try EMALog(openingAt: db)
        for (step, path) in zip(1...2, paths) {
            let out = dir.file("huge-raw-\(step).safetensors")
            _ = try log.writeRaw(atStep: step, to: out, format: .safetensors)
            #expect(try Self.sameTensorBytes(out, path), "step \(step)")
            try FileManager.default.removeItem(atPath: out)
        }
        #expect(try log.audit().findings.isEmpty)
    }

    /// A step of one U8 tensor "u" of `bytes` bytes (a pattern that changes a little with the step)
    /// and a small F32 tensor "w", written 64 MiB at a time.
    static func writeHugeStep(_ path: String, step: Int, bytes: Int) throws {
        let header = "{\"__metadata__\":{\"step\":\"\(step)\"},\"u\":{\"dtype\":\"U8\",\"shape\":[\(bytes)],\"data_offsets\":[0,\(bytes)]},"
            + "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\(bytes),\(bytes + 8)]}}"
        let handle = try FileHandle(forWritingTo: { _ = FileManager.default.createFile(atPath: path, contents: nil); return URL(fileURLWithPath: path) }())
        defer { try? handle.close() }
        try handle.write(contentsOf: withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Data($0) } + Data(header.utf8))
        let piece = 64 << 20
        var words = [UInt64](repeating: 0, count: piece / 8)
        var offset = 0
        while offset < bytes {
            let count = min(piece, bytes - offset)
            for k in 0..<((count + 7) / 8) {
                let i = UInt64((offset / 8) + k)
                words[k] = (i &* 0x9E37_79B9_7F4A_7C15) >> 7 &+ (i % 5 == 0 ? UInt64(step) : 0)
            }
            try words.withUnsafeBytes { try handle.write(contentsOf: Data(UnsafeRawBufferPointer(rebasing: $0[0..<count]))) }
            offset += count
        }
        try handle.write(contentsOf: [Float(1), Float(step)].withUnsafeBytes { Data($0) })
    }

    /// Whether two safetensors files hold the same tensor bytes (their data sections compared 64 MiB
    /// at a time; both headers list "u" then "w" back to back).
    static func sameTensorBytes(_ a: String, _ b: String) throws -> Bool {
        let files = try [a, b].map { try FileHandle(forReadingFrom: URL(fileURLWithPath: $0)) }
        defer { files.forEach { try? $0.close() } }
        for file in files {
            let n = try file.read(upToCount: 8)!.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
            _ = try file.read(upToCount: Int(n))
        }
        while true {
            let (x, y) = (try files[0].read(upToCount: 64 << 20) ?? Data(), try files[1].read(upToCount: 64 << 20) ?? Data())
            guard x == y else { return false }
            if x.isEmpty { return true }
        }
    }
}
