import EMALogFormats
import EMALogStore
import EMALogTestSupport
import Foundation
import Testing

/// The `LogWriter`/`LogReader` contract (`EMALogStore/Log/LogStore.swift`) as every writable
/// backend must keep it, checked through the protocols only.
@Suite struct WriterConformanceTests {
    let dir = TemporaryDirectory()
    static let chunkBytes = 16  // 4 float32 per chunk: several chunks per tensor
    static let layouts = [TensorLayout(name: "w", dtype: .f32, shape: [3, 5]), TensorLayout(name: "n", dtype: .i64, shape: [3])]

    /// Deterministic bytes for `tensor` at `step`.
    static func bytes(_ tensor: TensorRecord, step: Int) -> [UInt8] {
        (0..<tensor.byteCount).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ step &* 7 &+ Int(tensor.position)) }
    }

    static func record(_ step: Int, ingest: Int64) -> StepRecord {
        StepRecord(step: step, ingestID: ingest, sourcePath: "steps/step-\(step).safetensors", sourceSize: 100 + step,
                   sourceHash: 0xDEAD_BEEF_0000 + UInt64(step), metadata: ["epoch": "\(step / 5)"], ingestedAt: "2026-12-07T12:00:0\(step % 10)Z")
    }

    /// Steps 0, 5, 9 with plain chunks, a track with snapshots at 5 and 9, two metric keys.
    func filled(_ backend: Backend) throws -> (store: any LogStore, tensors: [TensorRecord], track: TrackRecord, ingest: Int64) {
        let store = try backend.makeEmpty(in: dir, chunkBytes: Self.chunkBytes)
        let (tensors, track, ingest) = try store.write { w throws in
            let ingest = try w.insertIngest(arguments: ["emalog", "ingest", "--db", "x"], configuration: #"{"tracks":[]}"#)
            let tensors = try w.insertTensors(Self.layouts)
            for step in [0, 5, 9] {
                try w.insertStep(Self.record(step, ingest: ingest))
                for tensor in tensors {
                    try Self.bytes(tensor, step: step).withUnsafeBytes { try w.insertPlainChunks(of: tensor, in: .step(step), bytes: $0) }
                }
            }
            let track = try w.insertTrack(name: "slow", spec: "decay=0.99", ingestID: ingest)
            for step in [5, 9] {
                let snapshot = try w.insertSnapshot(track: track.id, step: step)
                try Self.bytes(tensors[0], step: step + 100).withUnsafeBytes {
                    try w.insertPlainChunks(of: tensors[0], in: .snapshot(snapshot.id), bytes: $0)
                }
            }
            let keys = try w.metricKeyIDs(for: ["loss", "acc"])
            _ = try w.insertMetrics([MetricValue(step: 5, keyID: keys["loss"]!, value: 0.5), MetricValue(step: 0, keyID: keys["loss"]!, value: 1.5),
                                     MetricValue(step: 5, keyID: keys["acc"]!, value: .nan)], replace: false) { _ in "" }
            return (tensors, track, ingest)
        }
        return (store, tensors, track, ingest)
    }

    @Test(arguments: [Backend.sqlite, .memory])
    func aWriteCommitsEverythingOrNothing(_ backend: Backend) throws {
        struct Boom: Error {}
        let store = try backend.makeEmpty(in: dir, chunkBytes: Self.chunkBytes)
        defer { try? store.close() }
        #expect(throws: Boom.self) {
            try store.write { w throws in
                let ingest = try w.insertIngest(arguments: ["a"], configuration: "{}")
                _ = try w.insertTensors(Self.layouts)
                try w.insertStep(Self.record(1, ingest: ingest))
                throw Boom()
            }
        }
        try store.read { r throws in
            #expect(try r.tensors().isEmpty)
            #expect(try r.stepNumbers().isEmpty)
            #expect(try r.ingests().isEmpty)
            #expect(try r.lastStep() == nil)
        }
        // What a write sees of itself, and what commits.
        try store.write { w throws in
            let ingest = try w.insertIngest(arguments: ["a"], configuration: "{}")
            try w.insertStep(Self.record(1, ingest: ingest))
            #expect(try w.stepNumbers() == [1])
        }
        #expect(try store.read { try $0.stepNumbers() } == [1])
    }

    /// Leaving out a step's raw weights (retention) keeps its record, flagged, and every other
    /// step's bytes and every snapshot; the chain helpers skip it.
    @Test(arguments: [Backend.sqlite, .memory])
    func aStepLeftOutKeepsItsRecordAndNothingElseChanges(_ backend: Backend) throws {
        let (store, tensors, track, ingest) = try filled(backend)
        defer { try? store.close() }
        let thinning = try store.write { w throws in try w.thin(dropping: [5, 7], tensors: tensors) }
        #expect(thinning.steps == 1 && thinning.droppedBytes > 0 && thinning.reencodedChunks == 0)
        try store.read { r throws in
            #expect(try r.stepNumbers() == [0, 5, 9] && r.rawStepNumbers(in: 0...100) == [0, 9])
            var record = Self.record(5, ingest: ingest)
            record.raw = false
            #expect(try r.stepRecord(5) == record)
            #expect(try r.rawNeighbours(of: 9) == (0, nil) && r.neighbours(of: 9) == (5, nil))
            #expect(try r.chunkCount(of: tensors[0], step: 5) == 0)
            for step in [0, 9] {
                for tensor in tensors {
                    var bytes: [UInt8] = []
                    try r.forEachChunk(of: tensor, in: .step(step)) { _, b in bytes += b }
                    #expect(bytes == Self.bytes(tensor, step: step), "step \(step) \(tensor.name)")
                }
            }
            #expect(try r.snapshots(track: track.id).map(\.step) == [5, 9])
        }
    }

    @Test(arguments: [Backend.sqlite, .memory])
    func everyRecordReadsBackAsWritten(_ backend: Backend) throws {
        let (store, tensors, track, ingest) = try filled(backend)
        defer { try? store.close() }
        try store.read { r throws in
            #expect(try r.tensors() == tensors)
            #expect(tensors.map(\.layout) == Self.layouts)
            #expect(try r.stepNumbers() == [0, 5, 9])
            #expect(try r.stepNumbers(in: 1...9) == [5, 9])
            #expect(try r.stepNumbers(in: 6...8) == [])
            #expect(try r.firstStep() == 0 && r.lastStep() == 9)
            #expect(try r.neighbours(of: 5) == (0, 9))
            #expect(try r.neighbours(of: 6) == (5, 9))
            #expect(try r.neighbours(of: 0) == (nil, 5))
            #expect(try r.stepRecord(5) == Self.record(5, ingest: ingest))
            #expect(try r.stepRecord(4) == nil)
            #expect(try r.stepRecords(in: 1...100) == [Self.record(5, ingest: ingest), Self.record(9, ingest: ingest)])
            #expect(try r.tracks() == [track])
            #expect(try r.snapshots(track: track.id).map(\.step) == [5, 9])
            #expect(try r.snapshot(track: track.id, atOrBefore: 8)?.step == 5)
            #expect(try r.snapshot(track: track.id, atOrBefore: 4) == nil)
            let trail = try r.ingests()
            #expect(trail.map(\.id) == [ingest])
            #expect(trail.first?.arguments == ["emalog", "ingest", "--db", "x"])
            #expect(trail.first?.configuration == #"{"tracks":[]}"#)
            #expect(try r.owedSnapshots().isEmpty)
            #expect(try r.damagedMetricRows().isEmpty)
            #expect(try r.totalsProblems().isEmpty)
            #expect(try r.integrityCheck() == ["ok"])
        }
    }

    @Test(arguments: [Backend.sqlite, .memory])
    func chunksReadBackDecodedAndInOrder(_ backend: Backend) throws {
        let (store, tensors, track, _) = try filled(backend)
        defer { try? store.close() }
        try store.read { r throws in
            for tensor in tensors {
                let count = r.layout.count(of: tensor.byteCount)
                #expect(count > 1, "the suite must cross chunk bounds")
                for step in [0, 5, 9] {
                    var got = [UInt8]()
                    try r.forEachChunk(of: tensor, in: .step(step)) { _, bytes in got += bytes }
                    #expect(got == Self.bytes(tensor, step: step), "\(tensor.name) at \(step)")
                    #expect(try r.chunkCount(of: tensor, step: step) == count)
                    var indices = [Int]()
                    try r.forEachStoredChunk(of: tensor, in: .step(step)) { indices.append($0.header.index) }
                    #expect(indices == Array(0..<count))
                }
                #expect(try r.storedChunk(of: tensor, index: 1, step: 5).step == 5)
                #expect(try r.storedChunks(of: tensor, index: 1, atOrBefore: 8, limit: 5).map(\.step) == [5, 0])
                #expect(try r.storedChunks(of: tensor, index: 1, atOrBefore: 9, limit: 1).map(\.step) == [9])
                var seen = [Int]()
                try r.forEachChunkCodec(of: tensor, index: 0, atOrBefore: 9) { step, codec in
                    #expect(codec == .plain)
                    seen.append(step)
                    return step > 5  // stops after step 5
                }
                #expect(seen == [9, 5])
            }
            let counts = try r.chunkCounts().sorted { ($0.step, $0.tensorID) < ($1.step, $1.tensorID) }
            #expect(counts.map(\.step) == [0, 0, 5, 5, 9, 9])
            #expect(counts.map(\.count) == [0, 5, 9].flatMap { _ in tensors.sorted { $0.id < $1.id }.map { r.layout.count(of: $0.byteCount) } })
            let snapshot = try #require(try r.snapshot(track: track.id, atOrBefore: 9))
            var got = [UInt8]()
            try r.forEachChunk(of: tensors[0], in: .snapshot(snapshot.id)) { _, bytes in got += bytes }
            #expect(got == Self.bytes(tensors[0], step: 109))
            let summary = try r.summary()
            #expect(summary.stepCount == 3 && summary.firstStep == 0 && summary.lastStep == 9)
            #expect(summary.snapshotCount == 2 && summary.ingestCount == 1)
            #expect(summary.metricKeyCount == 2 && summary.metricValueCount == 3)
            #expect(summary.chunkCount == counts.reduce(0) { $0 + $1.count })
            #expect(summary.chunkBytes == 3 * tensors.reduce(0) { $0 + $1.byteCount })  // plain chunks store their bytes
        }
    }

    @Test(arguments: [Backend.sqlite, .memory])
    func metricsKeepOrderNaNAndConflicts(_ backend: Backend) throws {
        let (store, _, _, _) = try filled(backend)
        defer { try? store.close() }
        let keys = try store.read { try $0.metricKeys() }
        #expect(Set(keys.keys) == ["loss", "acc"])
        let loss = keys["loss"]!, acc = keys["acc"]!
        let values = try store.read { try $0.metricValues(keyIDs: [loss, acc], steps: 0...9) }
        #expect(values.map(\.step) == [0, 5, 5])
        #expect(values.filter { $0.step == 5 }.map(\.keyID) == [loss, acc].sorted())
        #expect(values.first { $0.keyID == acc }?.value.isNaN == true)
        // The same value again is a no-op; a different one is refused, kept or replaced as asked.
        try store.write { w throws in
            let same = try w.insertMetrics([MetricValue(step: 5, keyID: loss, value: 0.5)], replace: false) { _ in "loss" }
            #expect(same.unchanged == 1 && same.inserted == 0)
        }
        #expect(throws: MetricConflict.self) {
            try store.write { w in _ = try w.insertMetrics([MetricValue(step: 5, keyID: loss, value: 0.25)], replace: false) { _ in "loss" } }
        }
        let kept = try store.write { w throws in
            try w.insertMetrics([MetricValue(step: 5, keyID: loss, value: 0.25)], onConflict: .keepStored) { _ in "loss" }
        }
        #expect(kept.kept.map(\.stored) == [0.5])
        let replaced = try store.write { w in try w.insertMetrics([MetricValue(step: 5, keyID: loss, value: 0.25)], replace: true) { _ in "loss" } }
        #expect(replaced.replaced == 1)
        #expect(try store.read { try $0.metricValues(keyIDs: [loss], steps: 5...5) }.map(\.value) == [0.25])
    }

    @Test(arguments: [Backend.sqlite, .memory])
    func aReplacedStepAndOwedSnapshots(_ backend: Backend) throws {
        let (store, tensors, track, ingest) = try filled(backend)
        defer { try? store.close() }
        var changed = Self.record(5, ingest: ingest)
        changed.sourceHash = 42
        try store.write { w throws in
            try w.replaceStep(changed)
            #expect(try w.chunkCount(of: tensors[0], step: 5) == 0, "a replaced step's chunks are dropped")
            try Self.bytes(tensors[0], step: 55).withUnsafeBytes { try w.insertPlainChunks(of: tensors[0], in: .step(5), bytes: $0) }
            try Self.bytes(tensors[1], step: 55).withUnsafeBytes { try w.insertPlainChunks(of: tensors[1], in: .step(5), bytes: $0) }
            let deleted = try w.deleteSnapshots(fromStep: 5)
            #expect(deleted.map(\.step).sorted() == [5, 9] && deleted.allSatisfy { $0.track == track.id })
        }
        try store.read { r throws in
            #expect(try r.stepRecord(5)?.sourceHash == 42)
            var got = [UInt8]()
            try r.forEachChunk(of: tensors[0], in: .step(5)) { _, bytes in got += bytes }
            #expect(got == Self.bytes(tensors[0], step: 55))
            #expect(try r.snapshots(track: track.id).isEmpty)
            #expect(try r.owedSnapshots().map(\.step).sorted() == [5, 9], "a committed deletion leaves its debt")
        }
        try store.write { w throws in
            _ = try w.insertSnapshot(track: track.id, step: 9)
            _ = try w.insertSnapshot(track: track.id, step: 9)  // the same track and step again replaces it
            try w.settleOwedSnapshots()
        }
        try store.read { r throws in
            #expect(try r.snapshots(track: track.id).map(\.step) == [9])
            #expect(try r.owedSnapshots().isEmpty)
        }
    }

    @Test(arguments: [Backend.sqlite, .memory])
    func aCopyAdoptsTheSourcesIdentityAndAuditTrail(_ backend: Backend) throws {
        let store = try backend.makeEmpty(in: dir, chunkBytes: Self.chunkBytes)
        defer { try? store.close() }
        let trail = [IngestRecord(id: 3, startedAt: "2026-01-01T00:00:00Z", emalogVersion: "0.9", arguments: ["emalog", "ingest", "é"],
                                  configuration: "{}"),
                     IngestRecord(id: 7, startedAt: "2026-01-02T00:00:00Z", emalogVersion: "1.0", arguments: [], configuration: #"{"a":1}"#)]
        try store.write { w in try w.adopt(logID: "0b6f3a52-1c1e-4b4e-9d43-5f1f5c1b2a11", ingests: trail) }
        try store.read { r throws in
            #expect(try r.logID() == "0b6f3a52-1c1e-4b4e-9d43-5f1f5c1b2a11")
            #expect(try r.ingests() == trail)
        }
        let next = try store.write { w in try w.insertIngest(arguments: ["b"], configuration: "{}") }
        #expect(next > 7, "a later ingest's id follows the adopted ones")
    }

    @Test(arguments: [Backend.sqlite, .memory])
    func pinsNameStepsAndMove(_ backend: Backend) throws {
        let (store, _, _, _) = try filled(backend)
        defer { try? store.close() }
        try store.write { w throws in
            try w.pin(PinRecord(name: "best", step: 5, pinnedAt: "2026-12-07T10:00:00Z"))
            try w.pin(PinRecord(name: "a", step: 0, pinnedAt: "2026-12-07T10:00:01Z"))
            try w.pin(PinRecord(name: "best", step: 9, pinnedAt: "2026-12-07T10:00:02Z"))  // moves
        }
        #expect(try store.read { try $0.pins() } == [PinRecord(name: "a", step: 0, pinnedAt: "2026-12-07T10:00:01Z"),
                                                     PinRecord(name: "best", step: 9, pinnedAt: "2026-12-07T10:00:02Z")])
        #expect(throws: (any Error).self, "a pin names a stored step") {
            try store.write { w in try w.pin(PinRecord(name: "x", step: 4, pinnedAt: "t")) }
        }
        #expect(try store.write { try $0.unpin(name: "a") })
        #expect(try !store.write { try $0.unpin(name: "a") })
        #expect(try store.read { try $0.pins() }.map(\.name) == ["best"])
    }

    @Test(arguments: [Backend.sqlite, .memory])
    func removingStepsAfterOneEndsTheLogThere(_ backend: Backend) throws {
        let (store, tensors, track, _) = try filled(backend)
        defer { try? store.close() }
        let keys = try store.read { try $0.metricKeys() }
        try store.write { w throws in
            _ = try w.insertMetrics([MetricValue(step: 9, keyID: keys["loss"]!, value: 0.25)], replace: false) { _ in "loss" }
        }
        let removed = try store.write { try $0.removeSteps(after: 5) }
        #expect(removed.steps == 1 && removed.snapshots == 1 && removed.metricValues == 1)
        #expect(removed.chunkBytes == tensors.reduce(0) { $0 + $1.byteCount })  // step 9's plain chunks
        try store.read { r throws in
            #expect(try r.stepNumbers() == [0, 5] && r.lastStep() == 5)
            #expect(try r.snapshots(track: track.id).map(\.step) == [5])
            #expect(try r.metricValues(keyIDs: Array(keys.values), steps: 0...100).map(\.step) == [0, 5, 5])
            #expect(try r.chunkCounts().allSatisfy { $0.step <= 5 })
            #expect(try r.summary().stepCount == 2 && r.totalsProblems().isEmpty)
        }
        #expect(try store.write { try $0.removeSteps(after: 5) } == RemovedSteps())
    }
}
