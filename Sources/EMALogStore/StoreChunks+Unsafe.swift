import EMALogFormats
import Foundation
import GRDB
import GRDBSQLite

extension StoreReader {
    /// Calls `body` with each chunk of `tensor`'s bytes for `owner`, in order, after checking its
    /// checksum; the buffer is valid only during the call. Returns the total bytes seen.
    @discardableResult
    public func forEachChunk(of tensor: TensorRecord, in owner: ChunkOwner,
                             _ body: (_ offset: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let statement = try db.cachedStatement(sql: """
            SELECT chunk_index, codec, raw_size, xxh64, data FROM \(owner.table)
            WHERE \(owner.column) = ? AND tensor_id = ? ORDER BY chunk_index
            """)
        statement.arguments = [owner.key, tensor.id]
        let cursor = try Row.fetchCursor(statement)
        var offset = 0
        var expectedIndex = 0
        let what = { "tensor '\(tensor.name)' \(owner.label)" }
        while let row = try cursor.next() {
            let index: Int = row[0]
            let codec: String = row[1]
            let rawSize: Int = row[2]
            let checksum = UInt64(bitPattern: row[3] as Int64)
            guard index == expectedIndex else { throw StoreError.inconsistent("\(what()): chunk \(expectedIndex) is missing") }
            guard Codec(rawValue: codec) == .plain else {
                throw StoreError.inconsistent("\(what()): unknown codec '\(codec)' (written by a newer emalog?)")
            }
            try row.withUnsafeData(atIndex: 4) { data in
                guard let data, data.count == rawSize else {
                    throw StoreError.inconsistent("\(what()): chunk \(index) holds \(data?.count ?? 0) bytes, expected \(rawSize)")
                }
                try data.withUnsafeBytes { bytes in
                    guard XXH64.hash(bytes) == checksum else { throw StoreError.checksumMismatch(what: "\(what()), chunk \(index)") }
                    try body(offset, bytes)
                }
            }
            offset += rawSize
            expectedIndex += 1
        }
        let expected = owner.isSnapshot ? tensor.elementCount * 4 : tensor.byteCount
        guard offset == expected else {
            throw StoreError.inconsistent("\(what()) holds \(offset) bytes, expected \(expected)")
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
}

extension StoreWriter {
    /// Stores `bytes` as `tensor`'s data for `owner`, split in chunks of at most `chunkBytes`,
    /// each with its XXH64. The bytes are bound without a copy.
    public func insertChunks(of tensorID: Int64, in owner: ChunkOwner, bytes: UnsafeRawBufferPointer) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO \(owner.table) (\(owner.column), tensor_id, chunk_index, codec, raw_size, xxh64, data)
            VALUES (?, ?, ?, 'plain', ?, ?, ?)
            """)
        let handle = statement.sqliteStatement
        var offset = 0
        var index = 0
        repeat {
            let count = min(chunkBytes, bytes.count - offset)
            let chunk = UnsafeRawBufferPointer(start: bytes.baseAddress.map { $0 + offset }, count: count)
            sqlite3_reset(handle)
            sqlite3_bind_int64(handle, 1, owner.key)
            sqlite3_bind_int64(handle, 2, tensorID)
            sqlite3_bind_int64(handle, 3, Int64(index))
            sqlite3_bind_int64(handle, 4, Int64(count))
            sqlite3_bind_int64(handle, 5, Int64(bitPattern: XXH64.hash(chunk)))
            // SQLITE_STATIC (nil): SQLite reads the caller's memory during step, no copy.
            if let base = chunk.baseAddress, count > 0 {
                sqlite3_bind_blob64(handle, 6, base, sqlite3_uint64(count), nil)
            } else {
                sqlite3_bind_zeroblob(handle, 6, 0)
            }
            let code = sqlite3_step(handle)
            sqlite3_clear_bindings(handle)
            sqlite3_reset(handle)
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code),
                                    message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
            offset += count
            index += 1
        } while offset < bytes.count
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
