import EMALogFormats
import Foundation
import GRDB
import GRDBSQLite

/// One stored chunk row.
struct ChunkRow {
    var step: Int
    var index: Int
    var codec: Codec
    var rawSize: Int
    var checksum: UInt64
    var payload: [UInt8]
}

extension StoreReader {
    /// Calls `body` with each chunk of `tensor`'s bytes for `owner`, in order, decoded and checked
    /// against its checksum; the buffer is valid only during the call. Returns the total bytes seen.
    @discardableResult
    public func forEachChunk(of tensor: TensorRecord, in owner: ChunkOwner,
                             _ body: (_ offset: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let coder = ChunkCoder()
        // Row by row through a cursor: one chunk's payload and decoded bytes at a time.
        let statement = try db.cachedStatement(sql: """
            SELECT chunk_index, codec, raw_size, xxh64, data FROM \(owner.table)
            WHERE \(owner.column) = ? AND tensor_id = ? ORDER BY chunk_index
            """)
        statement.arguments = [owner.key, tensor.id]
        let rows = try Row.fetchCursor(statement)
        var offset = 0
        var expected = 0
        var decoded: [UInt8] = []
        while let stored = try rows.next() {
            let row = try chunkRow(stored, step: Int(owner.key), tensor: tensor, label: owner.label, snapshot: owner.isSnapshot)
            guard row.index == expected else {
                throw StoreError.inconsistent("tensor '\(tensor.name)' \(owner.label): chunk \(expected) is missing")
            }
            expected += 1
            if row.codec.predecessors == 0 {
                try decodeVerified(row, tensor: tensor, owner: owner, predecessors: [], coder: coder, into: &decoded)
            } else if case let .step(step) = owner {
                decoded = try decodeChain(tensor: tensor, chunkIndex: row.index, step: step, coder: coder)
            } else {
                throw StoreError.inconsistent("tensor '\(tensor.name)' \(owner.label): a snapshot chunk cannot be a delta")
            }
            try decoded.withUnsafeBytes { try body(offset, $0) }
            offset += row.rawSize
        }
        let size = owner.isSnapshot ? tensor.elementCount * 4 : tensor.byteCount
        guard offset == size else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' \(owner.label) holds \(offset) bytes, expected \(size)")
        }
        return offset
    }

    /// Copies `tensor`'s bytes for `owner` into `destination` (exactly its size).
    public func readTensor(_ tensor: TensorRecord, in owner: ChunkOwner, into destination: UnsafeMutableRawBufferPointer) throws {
        try forEachChunk(of: tensor, in: owner) { offset, bytes in
            precondition(offset + bytes.count <= destination.count, "destination too small for \(tensor.name)")
            if bytes.count > 0 { (destination.baseAddress! + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        }
    }

    /// A chunk row, validated before anything is sized from it: a known codec, an index within
    /// the tensor's chunks and the raw size that chunk must have (a hand-edited size would
    /// otherwise size an allocation).
    func chunkRow(_ row: Row, step: Int, tensor: TensorRecord, label: String, snapshot: Bool = false) throws -> ChunkRow {
        let name: String = try row.decode(forColumn: "codec")
        guard let codec = Codec(rawValue: name) else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' \(label): unknown codec '\(name.prefix(40))' (written by a newer emalog?)")
        }
        let index: Int = try row.decode(forColumn: "chunk_index")
        let rawSize: Int = try row.decode(forColumn: "raw_size")
        let total = snapshot ? tensor.elementCount * 4 : tensor.byteCount
        let count = Self.chunkCount(total: total, chunkBytes: chunkBytes)
        guard index >= 0 && index < count else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' \(label): chunk index \(index) is outside its \(count) chunks")
        }
        let expected = min(chunkBytes, total - index * chunkBytes)
        guard rawSize == expected else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' \(label): chunk \(index) claims \(rawSize) bytes, "
                + "its place in the tensor holds \(expected)")
        }
        return ChunkRow(step: step, index: index, codec: codec, rawSize: rawSize,
                        checksum: UInt64(bitPattern: try row.decode(Int64.self, forColumn: "xxh64")), payload: try row.withUnsafeData(named: "data") { $0.map { [UInt8]($0) } } ?? [])
    }

    /// Decodes one chunk of a step by walking back to its keyframe and forward again.
    func decodeChain(tensor: TensorRecord, chunkIndex: Int, step: Int, coder: ChunkCoder) throws -> [UInt8] {
        let statement = try db.cachedStatement(sql: """
            SELECT step, chunk_index, codec, raw_size, xxh64, data FROM chunks
            WHERE tensor_id = ? AND chunk_index = ? AND step <= ? ORDER BY step DESC LIMIT ?
            """)
        var chain: [ChunkRow] = []
        var limit = 64
        while true {
            statement.arguments = [tensor.id, chunkIndex, step, limit]
            chain = try Row.fetchAll(statement).map { row in
                try chunkRow(row, step: try row.decode(forColumn: "step"), tensor: tensor, label: "at step \(try row.decode(Int.self, forColumn: "step"))")
            }
            if chain.contains(where: { $0.codec.predecessors == 0 }) || chain.count < limit { break }
            limit *= 4
        }
        guard let keyframe = chain.firstIndex(where: { $0.codec.predecessors == 0 }) else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' chunk \(chunkIndex) at step \(step) has no keyframe before it")
        }
        var recent: [[UInt8]] = []
        for row in chain[...keyframe].reversed() {
            let decoded = try decodeVerified(row, tensor: tensor, owner: .step(row.step), predecessors: recent[...], coder: coder)
            recent.insert(decoded, at: 0)
            if recent.count > 2 { recent.removeLast() }
        }
        return recent[0]
    }

    func decodeVerified(_ row: ChunkRow, tensor: TensorRecord, owner: ChunkOwner, predecessors: ArraySlice<[UInt8]>, coder: ChunkCoder) throws -> [UInt8] {
        var out: [UInt8] = []
        try decodeVerified(row, tensor: tensor, owner: owner, predecessors: predecessors, coder: coder, into: &out)
        return out
    }

    /// Decodes into `out`, reusing its storage when it is unshared and of the right size (a replay
    /// recycles the step that drops out of its window: no fresh pages per chunk-step).
    func decodeVerified(_ row: ChunkRow, tensor: TensorRecord, owner: ChunkOwner, predecessors: ArraySlice<[UInt8]>, coder: ChunkCoder,
                        into out: inout [UInt8]) throws {
        let what = "tensor '\(tensor.name)' \(owner.label), chunk \(row.index)"
        guard predecessors.count >= row.codec.predecessors else {
            throw StoreError.inconsistent("\(what): \(row.codec.rawValue) needs \(row.codec.predecessors) earlier steps after a keyframe")
        }
        let dtype: DType = owner.isSnapshot ? .f32 : tensor.dtype
        if out.count != row.rawSize {
            // Every byte is written by the decoder (or the chunk is refused), so no zero-fill.
            out = [UInt8](unsafeUninitializedCapacity: row.rawSize) { _, initialized in initialized = row.rawSize }
        }
        let failure: CodecError? = out.withUnsafeMutableBytes { destination in
            let failure = row.payload.withUnsafeBytes { payload in
                withBuffers(predecessors.prefix(row.codec.predecessors)) { previous in
                    coder.decode(payload, codec: row.codec, dtype: dtype, predecessors: previous, into: destination)
                }
            }
            if failure != nil { destination.initializeMemory(as: UInt8.self, repeating: 0) }
            return failure
        }
        if let failure { throw StoreError.checksumMismatch(what: "\(what) (\(failure))") }
        guard out.withUnsafeBytes({ XXH64.hash($0) }) == row.checksum else { throw StoreError.checksumMismatch(what: what) }
    }
}

/// Calls `body` with raw buffers over up to two arrays (valid during the call).
func withBuffers<R>(_ arrays: ArraySlice<[UInt8]>, _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
    let start = arrays.startIndex
    switch arrays.count {
    case 0:
        return body([])
    case 1:
        return arrays[start].withUnsafeBytes { a in body([a]) }
    default:
        return arrays[start].withUnsafeBytes { a in arrays[start + 1].withUnsafeBytes { b in body([a, b]) } }
    }
}

extension StoreWriter {
    /// Stores `bytes` as `tensor`'s data for `owner` as they are (`plain`: snapshots, read often and
    /// barely compressible) in chunks of at most `chunkBytes`, each with the XXH64 of its bytes,
    /// bound without a copy. Raw steps are compressed through `StepEncoder` instead.
    public func insertChunks(of tensor: TensorRecord, in owner: ChunkOwner, bytes: UnsafeRawBufferPointer) throws {
        var offset = 0, index = 0
        repeat {
            let count = min(chunkBytes, bytes.count - offset)
            let chunk = UnsafeRawBufferPointer(start: bytes.baseAddress.map { $0 + offset }, count: count)
            try insertChunk(owner, tensor.id, index, .plain, count, XXH64.hash(chunk), chunk)
            offset += count
            index += 1
        } while offset < bytes.count
    }

    /// Inserts one encoded chunk (payload bound without a copy).
    func insertChunk(_ owner: ChunkOwner, _ tensorID: Int64, _ index: Int, _ codec: Codec,
                     _ rawSize: Int, _ checksum: UInt64, _ payload: UnsafeRawBufferPointer) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO \(owner.table) (\(owner.column), tensor_id, chunk_index, codec, raw_size, xxh64, data)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, owner.key)
        sqlite3_bind_int64(handle, 2, tensorID)
        sqlite3_bind_int64(handle, 3, Int64(index))
        sqlite3_bind_text(handle, 4, codec.rawValue, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        sqlite3_bind_int64(handle, 5, Int64(rawSize))
        sqlite3_bind_int64(handle, 6, Int64(bitPattern: checksum))
        // SQLITE_STATIC (nil): SQLite reads the caller's memory during step, no copy.
        if let base = payload.baseAddress, payload.count > 0 {
            sqlite3_bind_blob64(handle, 7, base, sqlite3_uint64(payload.count), nil)
        } else {
            sqlite3_bind_zeroblob(handle, 7, 0)
        }
        let code = sqlite3_step(handle)
        sqlite3_clear_bindings(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
        }
    }
}

extension ChunkOwner {
    var isSnapshot: Bool {
        if case .snapshot = self { return true }
        return false
    }

    var label: String {
        switch self {
        case let .step(s): "at step \(s)"
        case let .snapshot(id): "in snapshot \(id)"
        }
    }
}
