import EMAKernel
import EMALogCore
import EMALogFormats
import EMALogStore
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Core over a second backend (`MemoryLogStore`, written only against the LogStore protocols):
/// the same ingest and queries give bit-identical results to the SQLite log's.
@Suite struct SecondBackendTests {
    let dir = TemporaryDirectory()

    func request(_ inputs: [String], replace: Bool = false) throws -> IngestRequest {
        var request = IngestRequest(logPath: dir.file("unused.emalog"), inputs: inputs)
        request.tracks = try ["name=slow,decay=0.99", "name=timm,decay=0.9,schedule=warmup,form=lerp"].map { try EMASpec(parsing: $0) }
        request.snapshotEvery = 5
        request.keyframeEvery = 4  // keyframes, one- and two-step residuals
        request.chunkBytes = 256  // several chunks per tensor
        request.replace = replace
        return request
    }

    /// The fixture run in both backends: the SQLite log's path and the memory store.
    func twoLogs(_ inputs: [String]) throws -> (String, MemoryLogStore) {
        let db = dir.file("sqlite.emalog")
        var onDisk = try request(inputs)
        onDisk.logPath = db
        _ = try Ingest.run(onDisk)
        let memory = MemoryLogStore(chunkBytes: 256)
        _ = try Ingest.run(try request(inputs)) { memory }
        return (db, memory)
    }

    func bytes(of result: ShadowResult) -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for tensor in result.tensors {
            out[tensor.name] = tensor.dtype.isFloating ? result.withValues(of: tensor) { [UInt8](UnsafeRawBufferPointer($0)) }
                : result.integerBytes(of: tensor)
        }
        return out
    }

    @Test func shadowsSweepsAndRawStepsAreBitIdentical() throws {
        let (db, memory) = try twoLogs([Fixtures.path("mlp-f32/steps"), Fixtures.path("mlp-f32/metrics.jsonl")])
        let sqlite = try EMALog(openingAt: db), inMemory = EMALog(store: memory)
        for step in [1, 3, 5, 7, 13, 24] {
            for selector: EMALog.TrackSelector in [.nameOrSpec("slow"), .nameOrSpec("timm"), .decay(0.95)] {
                let a = try sqlite.shadow(atStep: step, track: selector), b = try inMemory.shadow(atStep: step, track: selector)
                #expect(a.startedFrom == b.startedFrom, "step \(step) \(selector)")
                #expect(bytes(of: a) == bytes(of: b), "step \(step) \(selector)")
            }
        }
        let specs = try ["0.5", "0.9", "0.999"].map { try EMASpec(parsing: $0) }
        #expect(try sqlite.sweep(specs, atStep: 17).map(bytes) == inMemory.sweep(specs, atStep: 17).map(bytes))
        for step in [1, 2, 11, 24] {
            let a = dir.file("a-\(step).safetensors"), b = dir.file("b-\(step).safetensors")
            try sqlite.writeRaw(atStep: step, to: a, format: .safetensors)
            try inMemory.writeRaw(atStep: step, to: b, format: .safetensors)
            #expect(FileManager.default.contents(atPath: a) == FileManager.default.contents(atPath: b), "raw step \(step)")
        }
        #expect(try sqlite.metrics(keys: []) == inMemory.metrics(keys: []))
        let audit = try inMemory.audit()
        #expect(audit.isClean, "\(audit.problems)")
        #expect(audit.snapshotsChecked == 2 * 5)  // steps 5, 10, 15, 20 and the last, per track
    }

    @Test func aReplacedStepAndANewTrackBehaveAlike() throws {
        let (db, memory) = try twoLogs([Fixtures.path("mlp-f32/steps")])
        var b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000007.safetensors"))
        b.tensors[b.index(of: "fc1.bias")].bytes[1] ^= 0x10
        let changed = dir.file("step-00000007.safetensors")
        try b.write(to: changed)
        var onDisk = try request([changed], replace: true)
        onDisk.logPath = db
        onDisk.tracks.append(try EMASpec(parsing: "name=late,decay=0.8"))
        var inMemory = try request([changed], replace: true)
        inMemory.tracks.append(try EMASpec(parsing: "name=late,decay=0.8"))
        #expect(try Ingest.run(onDisk).stepsReplaced == 1)
        #expect(try Ingest.run(inMemory) { memory }.stepsReplaced == 1)
        for step in [6, 7, 8, 9, 24] {
            for name in ["slow", "timm", "late"] {
                let a = try EMALog(openingAt: db).shadow(atStep: step, track: .nameOrSpec(name))
                let m = try EMALog(store: memory).shadow(atStep: step, track: .nameOrSpec(name))
                #expect(bytes(of: a) == bytes(of: m), "step \(step) track \(name)")
            }
        }
        #expect(try EMALog(store: memory).audit().isClean)
    }

    @Test func aRefusedStepLeavesTheBackendUnchanged() throws {
        let memory = MemoryLogStore(chunkBytes: 256)
        _ = try Ingest.run(try request([Fixtures.path("mlp-f32/steps/step-00000001.safetensors")])) { memory }
        var b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000002.safetensors"))
        b.tensors[b.index(of: "fc1.bias")].bytes.replaceSubrange(0..<4, with: withUnsafeBytes(of: Float.nan) { Array($0) })
        let bad = dir.file("step-00000002.safetensors")
        try b.write(to: bad)
        #expect(throws: IngestError.self) { try Ingest.run(try request([bad])) { memory } }
        #expect(try memory.read { try $0.stepNumbers() } == [1])
    }
}
