import EMALogStore
import EMALogFormats
import Foundation
import GRDB
import GRDBSQLite

/// The chunk rows: raw steps in `chunks` (keyed by step), snapshots in `snapshot_chunks` (keyed
/// by snapshot id); each row holds one chunk's codec, decoded size, XXH64 and payload.
extension ChunkOwner {
    var table: String {
        switch self {
        case .step: "chunks"
        case .snapshot: "snapshot_chunks"
        }
    }

    var column: String {
        switch self {
        case .step: "step"
        case .snapshot: "snapshot_id"
        }
    }

    var key: Int64 {
        switch self {
        case let .step(s): Int64(s)
        case let .snapshot(id): id
        }
    }
}

extension SQLiteAccess {
    func forEachStoredChunk(of tensor: TensorRecord, in owner: ChunkOwner, _ body: (StoredChunk) throws -> Void) throws {
        // Row by row through a cursor: one chunk's payload at a time.
        let statement = try db.cachedStatement(sql: """
            SELECT chunk_index, codec, raw_size, xxh64, data FROM \(owner.table)
            WHERE \(owner.column) = ? AND tensor_id = ? ORDER BY chunk_index
            """)
        statement.arguments = [owner.key, tensor.id]
        let rows = try Row.fetchCursor(statement)
        while let row = try rows.next() { try body(try storedChunk(row, owner: owner, tensor: tensor)) }
    }

    func storedChunk(of tensor: TensorRecord, index: Int, step: Int) throws -> StoredChunk {
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
        return try storedChunk(row, owner: .step(step), tensor: tensor)
    }

    func storedChunks(of tensor: TensorRecord, index: Int, atOrBefore step: Int, limit: Int) throws -> [StoredChunk] {
        let statement = try db.cachedStatement(sql: """
            SELECT step, chunk_index, codec, raw_size, xxh64, data FROM chunks
            WHERE tensor_id = ? AND chunk_index = ? AND step <= ? ORDER BY step DESC LIMIT ?
            """)
        statement.arguments = [tensor.id, index, step, limit]
        return try Row.fetchAll(statement).map { row in
            try storedChunk(row, owner: .step(try StoredStep.checked(try row.decode(forColumn: "step"), "chunks")!), tensor: tensor)
        }
    }

    func forEachChunkCodec(of tensor: TensorRecord, index: Int, atOrBefore step: Int,
                                  _ body: (_ step: Int, _ codec: Codec?) throws -> Bool) throws {
        let statement = try db.cachedStatement(sql: """
            SELECT step, codec FROM chunks WHERE tensor_id = ? AND chunk_index = ? AND step <= ? ORDER BY step DESC
            """)
        statement.arguments = [tensor.id, index, step]
        let rows = try Row.fetchCursor(statement)
        while let row = try rows.next() {
            let at = try StoredStep.checked(try row.decode(forColumn: "step"), "chunks")!
            guard try body(at, Codec(rawValue: try row.decode(forColumn: "codec"))) else { return }
        }
    }

    func chunkCount(of tensor: TensorRecord, step: Int) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM chunks WHERE step = ? AND tensor_id = ?", arguments: [step, tensor.id]) ?? 0
    }

    func chunkCounts() throws -> [(step: Int, tensorID: Int64, count: Int)] {
        try Row.fetchAll(db, sql: "SELECT step, tensor_id, count(*) FROM chunks GROUP BY step, tensor_id").map {
            (try $0.decode(atIndex: 0), try $0.decode(atIndex: 1), try $0.decode(atIndex: 2))
        }
    }

    /// A chunk row, validated (`StoredChunk.init`).
    private func storedChunk(_ row: Row, owner: ChunkOwner, tensor: TensorRecord) throws -> StoredChunk {
        try StoredChunk(owner: owner, tensor: tensor, layout: layout, codec: try row.decode(forColumn: "codec"),
                        index: try row.decode(forColumn: "chunk_index"), rawSize: try row.decode(forColumn: "raw_size"),
                        checksum: UInt64(bitPattern: try row.decode(Int64.self, forColumn: "xxh64")),
                        payload: try row.withUnsafeData(named: "data") { $0.map { [UInt8]($0) } } ?? [])
    }
}

extension SQLiteWriter {
    /// Inserts one encoded chunk, its payload bound without a copy.
    func insertChunk(_ chunk: ChunkHeader, in owner: ChunkOwner, tensorID: Int64, payload: UnsafeRawBufferPointer) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO \(owner.table) (\(owner.column), tensor_id, chunk_index, codec, raw_size, xxh64, data)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """)
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        sqlite3_bind_int64(handle, 1, owner.key)
        sqlite3_bind_int64(handle, 2, tensorID)
        sqlite3_bind_int64(handle, 3, Int64(chunk.index))
        sqlite3_bind_text(handle, 4, chunk.codec.rawValue, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self))
        sqlite3_bind_int64(handle, 5, Int64(chunk.rawSize))
        sqlite3_bind_int64(handle, 6, Int64(bitPattern: chunk.checksum))
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
        if case .step = owner { addedChunks.add(chunk.codec.rawValue, storedBytes: payload.count, rawBytes: chunk.rawSize) }
    }

    func updateChunk(index: Int, tensorID: Int64, step: Int, codec: Codec, payload: [UInt8]) throws {
        let key: StatementArguments = [step, tensorID, index]
        if let old = try Row.fetchOne(db, sql: """
            SELECT codec, length(data), raw_size FROM chunks WHERE step = ? AND tensor_id = ? AND chunk_index = ?
            """, arguments: key) {
            let raw: Int = try old.decode(atIndex: 2)
            try adjustChunkTotals(codec: try old.decode(atIndex: 0), chunks: -1, storedBytes: -(try old.decode(atIndex: 1) as Int),
                                  rawBytes: -raw)
            addedChunks.add(codec.rawValue, storedBytes: payload.count, rawBytes: raw)
        }
        try db.execute(sql: "UPDATE chunks SET codec = ?, data = ? WHERE step = ? AND tensor_id = ? AND chunk_index = ?",
                       arguments: [codec.rawValue, Data(payload)] + key)
    }
}
