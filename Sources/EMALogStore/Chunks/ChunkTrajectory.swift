import EMALogFormats
import Foundation
import GRDB

/// Decodes one chunk of a tensor step after step (a replay), reusing the values of the steps just
/// decoded, so each delta costs one decode; a jump or a first call walks back to the keyframe.
public final class ChunkTrajectory {
    public let tensor: TensorRecord
    public let chunkIndex: Int
    private let coder = ChunkCoder()
    private var recent: [[UInt8]] = []
    /// The step that last dropped out of `recent`, recycled as the next output.
    private var spare: [UInt8] = []
    private var lastStep: Int?

    public init(tensor: TensorRecord, chunkIndex: Int) {
        self.tensor = tensor
        self.chunkIndex = chunkIndex
    }

    /// The chunk's bytes at `step`; `previous` is the stored step just before it.
    public func bytes(at step: Int, previous: Int?, _ reader: StoreReader) throws -> [UInt8] {
        let row = try reader.chunkRow(step: step, tensor: tensor, index: chunkIndex)
        guard follows(row, previous: previous) else {
            return remember(try reader.decodeChain(tensor: tensor, chunkIndex: chunkIndex, step: step, coder: coder), row: row)
        }
        return try decode(row, reader)
    }

    // A replay over many chunks splits each step in two: the row is fetched on the reader's
    // thread (`pending`), the decode runs on a worker (`decode`).

    /// The stored row of this chunk at `step`, to decode later with `decode`.
    public func pending(at step: Int, _ reader: StoreReader) throws -> PendingChunk {
        PendingChunk(row: try reader.chunkRow(step: step, tensor: tensor, index: chunkIndex))
    }

    /// Decodes a fetched row, which must be a keyframe or follow the step decoded last
    /// (`previous`); touches no database, so it runs on any thread (one at a time per trajectory).
    /// `threads`: how many threads one large chunk may use.
    public func decode(_ pending: PendingChunk, previous: Int?, threads: Int = 1, _ reader: StoreReader) throws -> [UInt8] {
        let row = pending.row
        coder.threads = threads
        guard follows(row, previous: previous) else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' chunk \(chunkIndex) at step \(row.step): \(row.codec.rawValue) without the steps before it")
        }
        return try decode(row, reader)
    }

    /// Whether `row` decodes from what is kept: a keyframe, or the step after the one decoded last.
    private func follows(_ row: ChunkRow, previous: Int?) -> Bool {
        row.codec.predecessors == 0 || (lastStep != nil && lastStep == previous && recent.count >= row.codec.predecessors)
    }

    /// Decodes `row` from the kept steps into the recycled buffer, and keeps it.
    private func decode(_ row: ChunkRow, _ reader: StoreReader) throws -> [UInt8] {
        var decoded = spare
        spare = []
        try reader.decodeVerified(row, tensor: tensor, owner: .step(row.step), predecessors: recent[...], coder: coder, into: &decoded)
        return remember(decoded, row: row)
    }

    /// Keeps `decoded` as the newest step (only it after a keyframe); the step that drops out
    /// becomes the next output buffer.
    private func remember(_ decoded: [UInt8], row: ChunkRow) -> [UInt8] {
        recent.insert(decoded, at: 0)
        if row.codec.predecessors == 0 { recent.removeSubrange(1...) }
        if recent.count > 2 { spare = recent.removeLast() }
        lastStep = row.step
        return decoded
    }
}

/// A chunk row fetched for a later decode (see `ChunkTrajectory.pending`).
public struct PendingChunk: @unchecked Sendable {
    // Immutable value moved to one worker.
    let row: ChunkRow
}

extension StoreReader {
    /// Byte ranges of `tensor`'s chunks (raw steps), in order.
    /// One empty chunk for an empty tensor.
    public func chunkRanges(of tensor: TensorRecord) -> [Range<Int>] {
        let total = tensor.byteCount
        guard total > 0 else { return [0..<0] }
        return stride(from: 0, to: total, by: chunkBytes).map { $0..<min($0 + chunkBytes, total) }
    }

    /// How many chunks `total` bytes take (as `chunkRanges`, without building them).
    static func chunkCount(total: Int, chunkBytes: Int) -> Int {
        total == 0 ? 1 : (total - 1) / chunkBytes + 1
    }

    func chunkRow(step: Int, tensor: TensorRecord, index: Int) throws -> ChunkRow {
        let statement = try db.cachedStatement(sql: """
            SELECT chunk_index, codec, raw_size, xxh64, data FROM chunks WHERE step = ? AND tensor_id = ? AND chunk_index = ?
            """)
        statement.arguments = [step, tensor.id, index]
        // A cursor's row is not copied (it reads the statement in place, so the cursor must live
        // while it is read): the blob is copied once, from SQLite's buffer to the payload.
        let cursor = try Row.fetchCursor(statement)
        defer { withExtendedLifetime(cursor) {} }
        guard let row = try cursor.next() else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' at step \(step): chunk \(index) is missing")
        }
        return try chunkRow(row, step: step, tensor: tensor, label: "at step \(step)")
    }
}

extension StoreWriter {
    /// Before `step`'s chunks are replaced: the next stored step becomes a keyframe and the one after
    /// it a delta against that keyframe only, so nothing still depends on the old bytes of `step`.
    public func detachDependents(ofStep step: Int, tensors: [TensorRecord]) throws {
        let r = reader
        let (_, next) = try r.neighbours(of: step)
        guard let next else { return }
        let (_, afterNext) = try r.neighbours(of: next)
        let coder = ChunkCoder()
        for tensor in tensors {
            for index in r.chunkRanges(of: tensor).indices {
                let nextRow = try r.chunkRow(step: next, tensor: tensor, index: index)
                guard nextRow.codec.predecessors > 0 else { continue }
                let nextBytes = try r.decodeChain(tensor: tensor, chunkIndex: index, step: next, coder: coder)
                var rewritten: [(Int, Codec, [UInt8])] = []
                let (keyCodec, keyPayload) = nextBytes.withUnsafeBytes { coder.encode($0, dtype: tensor.dtype, predecessors: []) }
                rewritten.append((next, keyCodec, keyPayload))
                if let afterNext, try r.chunkRow(step: afterNext, tensor: tensor, index: index).codec.predecessors >= 2 {
                    let bytes = try r.decodeChain(tensor: tensor, chunkIndex: index, step: afterNext, coder: coder)
                    let (codec, payload) = bytes.withUnsafeBytes { b in
                        nextBytes.withUnsafeBytes { coder.encode(b, dtype: tensor.dtype, predecessors: [$0]) }
                    }
                    rewritten.append((afterNext, codec, payload))
                }
                for (s, codec, payload) in rewritten {
                    try db.execute(sql: "UPDATE chunks SET codec = ?, data = ? WHERE step = ? AND tensor_id = ? AND chunk_index = ?",
                                   arguments: [codec.rawValue, Data(payload), s, tensor.id, index])
                }
            }
        }
    }
}

/// Reads whole steps in increasing order, decoding each chunk from the one before (one decode per
/// chunk per step) instead of walking back to its keyframe every time.
public final class SequentialStepReader {
    private var trajectories: [Int64: [ChunkTrajectory]] = [:]

    public init() {}

    /// Calls `body` with each decoded chunk of `tensor` at `step`; `previous` is the stored step
    /// just before it. Any order works; increasing order is the fast one.
    public func forEachChunk(of tensor: TensorRecord, step: Int, previous: Int?, _ reader: StoreReader,
                             _ body: (_ offset: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void) throws {
        let ranges = reader.chunkRanges(of: tensor)
        // Decoded steps are kept (about three per chunk) only for tensors up to `keptBytes`: a
        // larger one walks back to its keyframe chunk by chunk, so memory stays at a few chunks.
        let keep = tensor.byteCount <= Self.keptBytes
        if keep && trajectories[tensor.id] == nil {
            trajectories[tensor.id] = ranges.indices.map { ChunkTrajectory(tensor: tensor, chunkIndex: $0) }
        }
        for (index, range) in ranges.enumerated() {
            let trajectory = keep ? trajectories[tensor.id]![index] : ChunkTrajectory(tensor: tensor, chunkIndex: index)
            let bytes = try trajectory.bytes(at: step, previous: previous, reader)
            guard bytes.count == range.count else {
                throw StoreError.inconsistent("tensor '\(tensor.name)' at step \(step): chunk \(index) holds \(bytes.count) bytes, expected \(range.count)")
            }
            try bytes.withUnsafeBytes { try body(range.lowerBound, $0) }
        }
        if try reader.chunkCount(step: step, tensor: tensor) != ranges.count {
            throw StoreError.inconsistent("tensor '\(tensor.name)' at step \(step) has extra chunks")
        }
    }

    /// Forgets decoded values (after the stored steps changed).
    public func reset() { trajectories.removeAll() }

    static let keptBytes = 64 << 20
}

extension StoreReader {
    /// How many chunks each (step, tensor) has, for audits.
    public func chunkCounts() throws -> [(step: Int, tensorID: Int64, count: Int)] {
        try Row.fetchAll(db, sql: "SELECT step, tensor_id, count(*) FROM chunks GROUP BY step, tensor_id").map { (try $0.decode(atIndex: 0), try $0.decode(atIndex: 1), try $0.decode(atIndex: 2)) }
    }

    func chunkCount(step: Int, tensor: TensorRecord) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM chunks WHERE step = ? AND tensor_id = ?", arguments: [step, tensor.id]) ?? 0
    }
}

extension StoreReader {
    /// The latest step at or before `step` where the chunk is a keyframe (codecs only, no payloads).
    public func keyframeStep(tensor: TensorRecord, chunkIndex: Int, atOrBefore step: Int) throws -> Int {
        let statement = try db.cachedStatement(sql: """
            SELECT step, codec FROM chunks WHERE tensor_id = ? AND chunk_index = ? AND step <= ? ORDER BY step DESC
            """)
        statement.arguments = [tensor.id, chunkIndex, step]
        let rows = try Row.fetchCursor(statement)
        while let row = try rows.next() {
            if Codec(rawValue: try row.decode(forColumn: "codec"))?.predecessors == 0 { return try row.decode(forColumn: "step") }
        }
        throw StoreError.inconsistent("tensor '\(tensor.name)' chunk \(chunkIndex) at step \(step) has no keyframe before it")
    }
}
