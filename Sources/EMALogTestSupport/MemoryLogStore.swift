import EMALogFormats
public import EMALogStore
import Foundation
import Synchronization

/// A second `LogStore` backend, in memory, written only against the protocols of
/// `EMALogStore/Log/LogStore.swift`: the proof that Core runs over any backend. A write works on a
/// copy of the state and replaces it on success, so a failed transaction leaves nothing.
public final class MemoryLogStore: LogStore {
    public let path: String
    public let layout: ChunkLayout
    public let unreadable: [String] = []
    private let state: Mutex<MemoryState>

    public init(path: String = "memory:test", chunkBytes: Int = ChunkLayout.defaultChunkBytes) {
        self.path = path
        layout = ChunkLayout(chunkBytes: chunkBytes)
        state = Mutex(MemoryState())
    }

    public func read<T>(_ body: (any LogReader) throws -> T) throws -> T {
        try body(MemoryReader(path: path, layout: layout, state: state.withLock { $0 }))
    }

    public func write<T>(_ body: (any LogWriter) throws -> T) throws -> T {
        // One writer at a time: the transaction holds the state's lock.
        try state.withLock { committed in
            let writer = MemoryWriter(path: path, layout: layout, state: committed)
            let result = try body(writer)
            committed = writer.state
            return result
        }
    }

    public func compact() {}

    public func freeFraction() -> Double { 0 }

    public func storedSize() -> StoredSize {
        state.withLock { s in
            StoredSize(main: s.stepChunks.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.payload.count } }, pending: 0)
        }
    }

    public func close() throws(StoreError) {}
}

struct MemoryChunk {
    var header: ChunkHeader
    var payload: [UInt8]
}

struct ChunkKey: Hashable {
    var tensorID: Int64
    var index: Int
}

struct MemoryState {
    var nextID: Int64 = 1
    var logID = "memory"
    var pins: [String: PinRecord] = [:]
    var ingests = 0
    var ingestRecords: [IngestRecord] = []
    var tensors: [TensorRecord] = []
    var steps: [Int: StepRecord] = [:]
    var tracks: [TrackRecord] = []
    var snapshots: [SnapshotRecord] = []
    var owedSnapshots: Set<[Int]> = []
    var stepChunks: [Int: [ChunkKey: MemoryChunk]] = [:]
    var snapshotChunks: [Int64: [ChunkKey: MemoryChunk]] = [:]
    var metricKeys: [String: Int64] = [:]
    var metrics: [MetricKey: Double] = [:]

    struct MetricKey: Hashable {
        var step: Int
        var keyID: Int64
    }

    mutating func id() -> Int64 {
        defer { nextID += 1 }
        return nextID
    }
}

/// The reads, shared by a read view and a write transaction.
protocol MemoryAccess: LogReader {
    var state: MemoryState { get }
}

struct MemoryReader: MemoryAccess {
    let path: String
    let layout: ChunkLayout
    let state: MemoryState
}

final class MemoryWriter: MemoryAccess, LogWriter {
    let path: String
    let layout: ChunkLayout
    var state: MemoryState

    init(path: String, layout: ChunkLayout, state: MemoryState) {
        self.path = path
        self.layout = layout
        self.state = state
    }

    func insertIngest(arguments: [String], configuration: String) throws -> Int64 {
        state.ingests += 1
        let id = state.id()
        state.ingestRecords.append(IngestRecord(id: id, startedAt: Timestamp.now(), emalogVersion: EMALogVersion.current,
                                                arguments: arguments, configuration: configuration))
        return id
    }

    func insertTensors(_ tensors: [TensorLayout]) throws -> [TensorRecord] {
        state.tensors = tensors.enumerated().map { position, t in
            TensorRecord(id: state.id(), name: t.name, dtype: t.dtype, shape: t.shape, position: position)
        }
        return state.tensors
    }

    func insertStep(_ record: StepRecord) throws {
        guard state.steps[record.step] == nil else { throw StoreError.inconsistent("step \(record.step) exists") }
        state.steps[record.step] = record
    }

    func replaceStep(_ record: StepRecord) throws {
        state.steps[record.step] = record
        state.stepChunks[record.step] = nil
    }

    func dropRaw(step: Int) throws -> Int {
        let bytes = state.stepChunks[step]?.values.reduce(0) { $0 + $1.payload.count } ?? 0
        state.stepChunks[step] = nil
        state.steps[step]?.raw = false
        return bytes
    }

    func insertTrack(name: String, spec: String, ingestID: Int64) throws -> TrackRecord {
        let track = TrackRecord(id: state.id(), name: name, spec: spec)
        state.tracks.append(track)
        return track
    }

    func insertSnapshot(track: Int64, step: Int) throws -> SnapshotRecord {
        for old in state.snapshots where old.trackID == track && old.step == step { state.snapshotChunks[old.id] = nil }
        state.snapshots.removeAll { $0.trackID == track && $0.step == step }
        let snapshot = SnapshotRecord(id: state.id(), trackID: track, step: step)
        state.snapshots.append(snapshot)
        return snapshot
    }

    func deleteSnapshots(fromStep step: Int) throws -> [(track: Int64, step: Int)] {
        let gone = state.snapshots.filter { $0.step >= step }
        for s in gone { state.snapshotChunks[s.id] = nil }
        state.snapshots.removeAll { $0.step >= step }
        for s in gone { state.owedSnapshots.insert([Int(s.trackID), s.step]) }
        return gone.map { ($0.trackID, $0.step) }
    }

    func settleOwedSnapshots() throws { state.owedSnapshots = [] }

    func removeSteps(after step: Int) throws -> RemovedSteps {
        var removed = RemovedSteps()
        for (s, chunks) in state.stepChunks where s > step {
            removed.chunkBytes += chunks.values.reduce(0) { $0 + $1.payload.count }
            state.stepChunks[s] = nil
        }
        let later = state.snapshots.filter { $0.step > step }
        removed.snapshots = later.count
        for snapshot in later { state.snapshotChunks[snapshot.id] = nil }
        state.snapshots.removeAll { $0.step > step }
        state.owedSnapshots = state.owedSnapshots.filter { $0[1] <= step }
        let values = state.metrics.keys.filter { $0.step > step }
        removed.metricValues = values.count
        for key in values { state.metrics[key] = nil }
        let steps = state.steps.keys.filter { $0 > step }
        removed.steps = steps.count
        for s in steps { state.steps[s] = nil }
        return removed
    }

    func pin(_ pin: PinRecord) throws {
        guard state.steps[pin.step] != nil else { throw StoreError.inconsistent("no step \(pin.step) to pin") }
        state.pins[pin.name] = pin
    }

    func unpin(name: String) throws -> Bool { state.pins.removeValue(forKey: name) != nil }

    func adopt(logID: String, ingests: [IngestRecord]) throws {
        state.logID = logID
        state.ingestRecords += ingests
        state.ingests += ingests.count
        state.nextID = max(state.nextID, (ingests.map(\.id).max() ?? 0) + 1)
    }

    func insertChunk(_ chunk: ChunkHeader, in owner: ChunkOwner, tensorID: Int64, payload: UnsafeRawBufferPointer) throws {
        let stored = MemoryChunk(header: chunk, payload: [UInt8](payload))
        switch owner {
        case let .step(step): state.stepChunks[step, default: [:]][ChunkKey(tensorID: tensorID, index: chunk.index)] = stored
        case let .snapshot(id): state.snapshotChunks[id, default: [:]][ChunkKey(tensorID: tensorID, index: chunk.index)] = stored
        }
    }

    func updateChunk(index: Int, tensorID: Int64, step: Int, codec: Codec, payload: [UInt8]) throws {
        let key = ChunkKey(tensorID: tensorID, index: index)
        state.stepChunks[step]?[key]?.header.codec = codec
        state.stepChunks[step]?[key]?.payload = payload
    }

    func metricKeyIDs(for names: some Sequence<String>) throws -> [String: Int64] {
        for name in names where state.metricKeys[name] == nil { state.metricKeys[name] = state.id() }
        return state.metricKeys
    }

    func insertMetrics(_ values: [MetricValue], onConflict: MetricConflictPolicy, keyName: (Int64) -> String) throws
        -> MetricsWriteResult {
        var result = MetricsWriteResult()
        for v in values {
            let key = MemoryState.MetricKey(step: v.step, keyID: v.keyID)
            if let stored = state.metrics[key] {
                if MetricValue.sameValue(stored, v.value) { result.unchanged += 1; continue }
                let conflict = MetricConflict(step: v.step, key: keyName(v.keyID), stored: stored, new: v.value)
                switch onConflict {
                case .refuse: throw conflict
                case .keepStored: result.kept.append(conflict); continue
                case .replace: result.replaced += 1
                }
            } else {
                result.inserted += 1
            }
            state.metrics[key] = v.value
        }
        return result
    }
}

extension MemoryAccess {
    func logID() throws -> String { state.logID }
    func pins() throws -> [PinRecord] { state.pins.values.sorted { $0.name < $1.name } }
    func tensors() throws -> [TensorRecord] { state.tensors }
    func stepNumbers() throws -> [Int] { state.steps.keys.sorted() }
    func stepNumbers(in range: ClosedRange<Int>) throws -> [Int] { state.steps.keys.filter(range.contains).sorted() }
    func firstStep() throws -> Int? { state.steps.keys.min() }
    func lastStep() throws -> Int? { state.steps.keys.max() }

    func neighbours(of step: Int) throws -> (below: Int?, above: Int?) {
        (state.steps.keys.filter { $0 < step }.max(), state.steps.keys.filter { $0 > step }.min())
    }

    func rawStepNumbers(in range: ClosedRange<Int>) throws -> [Int] {
        state.steps.values.filter { $0.raw && range.contains($0.step) }.map(\.step).sorted()
    }

    func rawNeighbours(of step: Int) throws -> (below: Int?, above: Int?) {
        let raw = state.steps.values.filter(\.raw).map(\.step)
        return (raw.filter { $0 < step }.max(), raw.filter { $0 > step }.min())
    }

    func stepRecord(_ step: Int) throws -> StepRecord? { state.steps[step] }
    func stepRecords(in range: ClosedRange<Int>) throws -> [StepRecord] {
        state.steps.values.filter { range.contains($0.step) }.sorted { $0.step < $1.step }
    }
    func tracks() throws -> [TrackRecord] { state.tracks }

    func snapshots(track: Int64) throws -> [SnapshotRecord] {
        state.snapshots.filter { $0.trackID == track }.sorted { $0.step < $1.step }
    }

    func owedSnapshots() throws -> [(track: Int64, step: Int)] {
        state.owedSnapshots.sorted { $0.lexicographicallyPrecedes($1) }.map { (Int64($0[0]), $0[1]) }
    }

    func snapshot(track: Int64, atOrBefore step: Int) throws -> SnapshotRecord? {
        try snapshots(track: track).last { $0.step <= step }
    }

    func summary() throws -> StoreSummary {
        let chunks = state.stepChunks.values.flatMap(\.values)
        var codecs: [String: (chunks: Int, storedBytes: Int, rawBytes: Int)] = [:]
        for chunk in chunks {
            codecs[chunk.header.codec.rawValue, default: (0, 0, 0)].chunks += 1
            codecs[chunk.header.codec.rawValue]!.storedBytes += chunk.payload.count
            codecs[chunk.header.codec.rawValue]!.rawBytes += chunk.header.rawSize
        }
        return StoreSummary(stepCount: state.steps.count, firstStep: try firstStep(), lastStep: try lastStep(),
                            chunkCount: chunks.count, chunkBytes: chunks.reduce(0) { $0 + $1.payload.count },
                            snapshotCount: state.snapshots.count,
                            snapshotBytes: state.snapshotChunks.values.flatMap(\.values).reduce(0) { $0 + $1.payload.count },
                            metricKeyCount: state.metricKeys.count, metricValueCount: state.metrics.count, ingestCount: state.ingests,
                            codecs: codecs.map { (codec: $0.key, chunks: $0.value.chunks, storedBytes: $0.value.storedBytes, rawBytes: $0.value.rawBytes) })
    }

    func appliedMigrations() throws -> [String] { [] }
    func integrityCheck() throws -> [String] { ["ok"] }
    func totalsProblems() throws -> [String] { [] }
    func ingests() throws -> [IngestRecord] { state.ingestRecords }
    func damagedMetricRows() throws -> [DamagedMetricRow] {
        let keys = Set(state.metricKeys.values)
        return state.metrics.keys.filter { !keys.contains($0.keyID) }.sorted { ($0.step, $0.keyID) < ($1.step, $1.keyID) }
            .map { DamagedMetricRow(step: $0.step, keyID: $0.keyID, problem: "its key id names no metric key") }
    }
    func metricKeys() throws -> [String: Int64] { state.metricKeys }

    func metricValues(keyIDs: [Int64], steps: ClosedRange<Int>) throws -> [MetricValue] {
        let wanted = Set(keyIDs)
        return state.metrics.filter { wanted.contains($0.key.keyID) && steps.contains($0.key.step) }
            .map { MetricValue(step: $0.key.step, keyID: $0.key.keyID, value: $0.value) }
            .sorted { ($0.step, $0.keyID) < ($1.step, $1.keyID) }
    }

    private func chunks(of owner: ChunkOwner) -> [ChunkKey: MemoryChunk] {
        switch owner {
        case let .step(step): state.stepChunks[step] ?? [:]
        case let .snapshot(id): state.snapshotChunks[id] ?? [:]
        }
    }

    private func stored(_ chunk: MemoryChunk, _ owner: ChunkOwner, _ tensor: TensorRecord) throws -> StoredChunk {
        try StoredChunk(owner: owner, tensor: tensor, layout: layout, codec: chunk.header.codec.rawValue, index: chunk.header.index,
                        rawSize: chunk.header.rawSize, checksum: chunk.header.checksum, payload: chunk.payload)
    }

    func forEachStoredChunk(of tensor: TensorRecord, in owner: ChunkOwner, _ body: (StoredChunk) throws -> Void) throws {
        for chunk in chunks(of: owner).filter({ $0.key.tensorID == tensor.id }).sorted(by: { $0.key.index < $1.key.index }) {
            try body(try stored(chunk.value, owner, tensor))
        }
    }

    func storedChunk(of tensor: TensorRecord, index: Int, step: Int) throws -> StoredChunk {
        guard let chunk = state.stepChunks[step]?[ChunkKey(tensorID: tensor.id, index: index)] else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' at step \(step): chunk \(index) is missing")
        }
        return try stored(chunk, .step(step), tensor)
    }

    func storedChunks(of tensor: TensorRecord, index: Int, atOrBefore step: Int, limit: Int) throws -> [StoredChunk] {
        // The steps that hold this chunk (a step whose raw weights were left out holds none), as SQL would find them.
        try state.steps.keys.filter { $0 <= step }.sorted(by: >).lazy.compactMap { s in
            self.state.stepChunks[s]?[ChunkKey(tensorID: tensor.id, index: index)].map { (s, $0) }
        }.prefix(limit).map { try stored($0.1, .step($0.0), tensor) }
    }

    func forEachChunkCodec(of tensor: TensorRecord, index: Int, atOrBefore step: Int,
                           _ body: (_ step: Int, _ codec: Codec?) throws -> Bool) throws {
        for s in state.steps.keys.filter({ $0 <= step }).sorted(by: >) {
            guard let chunk = state.stepChunks[s]?[ChunkKey(tensorID: tensor.id, index: index)] else { continue }
            guard try body(s, chunk.header.codec) else { return }
        }
    }

    func chunkCount(of tensor: TensorRecord, step: Int) throws -> Int {
        (state.stepChunks[step] ?? [:]).keys.filter { $0.tensorID == tensor.id }.count
    }

    func chunkCounts() throws -> [(step: Int, tensorID: Int64, count: Int)] {
        state.stepChunks.flatMap { step, chunks in
            Dictionary(grouping: chunks.keys, by: \.tensorID).map { (step, $0.key, $0.value.count) }
        }
    }
}
