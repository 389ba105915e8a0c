import EMALogStore
import EMALogFormats
import Foundation
import GRDB

/// `LogWriter` over SQLite, valid only inside `SQLiteLogStore.write {}`: everything commits together.
struct SQLiteWriter: SQLiteAccess, LogWriter {
    let db: Database
    let path: String
    let layout: ChunkLayout
    var stepsHaveRaw: Bool { true }  // a log opened for writing is migrated
    /// Raw-step chunks this write added, per codec, added to `chunk_totals` before it commits.
    let addedChunks = ChunkTotals()

    /// Adds what this write changed to the running totals; `SQLiteLogStore.write` calls it last,
    /// inside the transaction.
    func finish() throws {
        for (codec, total) in addedChunks.byCodec {
            try adjustChunkTotals(codec: codec, chunks: total.chunks, storedBytes: total.storedBytes, rawBytes: total.rawBytes)
        }
        addedChunks.byCodec.removeAll()
    }

    /// Adds (or, with negative figures, takes away) chunks of `codec` in `chunk_totals`.
    func adjustChunkTotals(codec: String, chunks: Int, storedBytes: Int, rawBytes: Int) throws {
        try db.cachedStatement(sql: """
            INSERT INTO chunk_totals (codec, chunks, stored_bytes, raw_bytes) VALUES (?, ?, ?, ?)
            ON CONFLICT (codec) DO UPDATE SET chunks = chunks + excluded.chunks, stored_bytes = stored_bytes + excluded.stored_bytes,
                                             raw_bytes = raw_bytes + excluded.raw_bytes
            """).execute(arguments: [codec, chunks, storedBytes, rawBytes])
    }

    /// Takes the chunks of `step` out of `chunk_totals`, before they are deleted.
    private func subtractChunks(ofStep step: Int) throws {
        _ = try subtractChunks(where: "step = ?", step)
    }

    /// Takes the chunks `condition` selects out of the running totals; returns their stored bytes.
    private func subtractChunks(where condition: String, _ step: Int) throws -> Int {
        let rows = try Row.fetchAll(db, sql: """
            SELECT codec, count(*), sum(length(data)), sum(raw_size) FROM chunks WHERE \(condition) GROUP BY codec
            """, arguments: [step])
        var bytes = 0
        for row in rows {
            try adjustChunkTotals(codec: try row.decode(atIndex: 0), chunks: -(try row.decode(atIndex: 1) as Int),
                                  storedBytes: -(try row.decode(atIndex: 2) as Int), rawBytes: -(try row.decode(atIndex: 3) as Int))
            bytes += try row.decode(atIndex: 2) as Int
        }
        return bytes
    }

    func removeSteps(after step: Int) throws -> RemovedSteps {
        var removed = RemovedSteps()
        removed.chunkBytes = try subtractChunks(where: "step > ?", step)
        try db.execute(sql: "DELETE FROM chunks WHERE step > ?", arguments: [step])
        removed.snapshots = try Int.fetchOne(db, sql: "SELECT count(*) FROM snapshots WHERE step > ?", arguments: [step]) ?? 0
        try db.execute(sql: "DELETE FROM snapshots WHERE step > ?", arguments: [step])
        let owed = try owedSnapshots().filter { $0.step <= step }
        if owed.isEmpty {
            try settleOwedSnapshots()
        } else {
            try db.execute(sql: "UPDATE log_info SET value = ? WHERE key = 'owed_snapshots'",
                           arguments: [OwedSnapshot.text(Set(owed.map { OwedSnapshot(track: $0.track, step: $0.step) }))])
        }
        removed.metricValues = try removeMetrics(after: step)
        try db.execute(sql: "DELETE FROM steps WHERE step > ?", arguments: [step])
        removed.steps = db.changesCount
        return removed
    }

    func dropRaw(step: Int) throws -> Int {
        let bytes = try subtractChunks(where: "step = ?", step)
        try db.execute(sql: "DELETE FROM chunks WHERE step = ?", arguments: [step])
        try db.execute(sql: "UPDATE steps SET raw = 0 WHERE step = ?", arguments: [step])
        return bytes
    }

    /// Records an ingest in the audit trail; returns its id.
    func insertIngest(arguments: [String], configuration: String) throws -> Int64 {
        let args = StoredText.text(ofArguments: arguments)
        try db.execute(sql: """
            INSERT INTO ingests (started_at, emalog_version, arguments, configuration) VALUES (?, ?, ?, ?)
            """, arguments: [Timestamp.now(), EMALogVersion.current, args, configuration])
        return db.lastInsertedRowID
    }

    /// Defines the log's tensor set (first step only).
    func insertTensors(_ tensors: [TensorLayout]) throws -> [TensorRecord] {
        var records: [TensorRecord] = []
        for (position, tensor) in tensors.enumerated() {
            let shape = StoredText.text(ofShape: tensor.shape)
            try db.execute(sql: """
                INSERT INTO tensors (name, dtype, shape, element_count, position) VALUES (?, ?, ?, ?, ?)
                """, arguments: [tensor.name, tensor.dtype.rawValue, shape, tensor.shape.reduce(1, *), position])
            records.append(TensorRecord(id: db.lastInsertedRowID, name: tensor.name, dtype: tensor.dtype,
                                        shape: tensor.shape, position: position))
        }
        return records
    }

    /// Adds a step's audit record (its chunks follow with `insertChunk`).
    func insertStep(_ record: StepRecord) throws {
        try db.execute(sql: """
            INSERT INTO steps (step, ingest_id, source_path, source_size, source_xxh64, metadata, ingested_at, raw)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [record.step, record.ingestID, record.sourcePath, record.sourceSize,
                             record.sourceHash.hex16, JSONWriter.object(record.metadata), record.ingestedAt, record.raw ? 1 : 0])
    }

    /// Replaces a stored step's record and drops its chunks, ready for new ones (`--replace`).
    func replaceStep(_ record: StepRecord) throws {
        try subtractChunks(ofStep: record.step)
        try db.execute(sql: "DELETE FROM chunks WHERE step = ?", arguments: [record.step])
        try db.execute(sql: """
            UPDATE steps SET ingest_id = ?, source_path = ?, source_size = ?, source_xxh64 = ?, metadata = ?,
            ingested_at = ?, raw = ? WHERE step = ?
            """, arguments: [record.ingestID, record.sourcePath, record.sourceSize, record.sourceHash.hex16,
                             JSONWriter.object(record.metadata), record.ingestedAt, record.raw ? 1 : 0, record.step])
    }

    /// Adds a track; returns its record.
    func insertTrack(name: String, spec: String, ingestID: Int64) throws -> TrackRecord {
        try db.execute(sql: "INSERT INTO tracks (name, spec, ingest_id) VALUES (?, ?, ?)",
                       arguments: [name, spec, ingestID])
        return TrackRecord(id: db.lastInsertedRowID, name: name, spec: spec)
    }

    /// Adds a snapshot row (its chunks follow with `insertChunk`), replacing one at the same step.
    func insertSnapshot(track: Int64, step: Int) throws -> SnapshotRecord {
        try db.execute(sql: "DELETE FROM snapshots WHERE track_id = ? AND step = ?", arguments: [track, step])
        try db.execute(sql: "INSERT INTO snapshots (track_id, step, created_at) VALUES (?, ?, ?)",
                       arguments: [track, step, Timestamp.now()])
        return SnapshotRecord(id: db.lastInsertedRowID, trackID: track, step: step)
    }

    /// Deletes every snapshot at or after `step` (their shadows depend on a replaced step); returns
    /// the (track, step) pairs deleted.
    func deleteSnapshots(fromStep step: Int) throws -> [(track: Int64, step: Int)] {
        let rows = try Row.fetchAll(db, sql: "SELECT track_id, step FROM snapshots WHERE step >= ?", arguments: [step])
        try db.execute(sql: "DELETE FROM snapshots WHERE step >= ?", arguments: [step])
        let deleted: [(track: Int64, step: Int)] = try rows.map { (try $0.decode(forColumn: "track_id"), try $0.decode(forColumn: "step")) }
        var owed = Set(try owedSnapshots().map { OwedSnapshot(track: $0.track, step: $0.step) })
        owed.formUnion(deleted.map { OwedSnapshot(track: $0.track, step: $0.step) })
        try db.execute(sql: "INSERT OR REPLACE INTO log_info (key, value) VALUES ('owed_snapshots', ?)",
                       arguments: [OwedSnapshot.text(owed)])
        return deleted
    }

    func settleOwedSnapshots() throws {
        try db.execute(sql: "DELETE FROM log_info WHERE key = 'owed_snapshots'")
    }

    func pin(_ pin: PinRecord) throws {
        try db.execute(sql: """
            INSERT INTO pins (name, step, pinned_at) VALUES (?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET step = excluded.step, pinned_at = excluded.pinned_at
            """, arguments: [pin.name, pin.step, pin.pinnedAt])
    }

    func unpin(name: String) throws -> Bool {
        try db.execute(sql: "DELETE FROM pins WHERE name = ?", arguments: [name])
        return db.changesCount > 0
    }

    func adopt(logID: String, ingests: [IngestRecord]) throws {
        try db.execute(sql: "UPDATE log_info SET value = ? WHERE key = 'log_id'", arguments: [logID])
        for ingest in ingests {
            try db.execute(sql: """
                INSERT INTO ingests (id, started_at, emalog_version, arguments, configuration) VALUES (?, ?, ?, ?, ?)
                """, arguments: [ingest.id, ingest.startedAt, ingest.emalogVersion, StoredText.text(ofArguments: ingest.arguments),
                                 ingest.configuration])
        }
    }
}

/// Chunk counts and bytes per codec, gathered while a write runs.
final class ChunkTotals {
    var byCodec: [String: (chunks: Int, storedBytes: Int, rawBytes: Int)] = [:]

    func add(_ codec: String, storedBytes: Int, rawBytes: Int) {
        byCodec[codec, default: (0, 0, 0)].chunks += 1
        byCodec[codec]!.storedBytes += storedBytes
        byCodec[codec]!.rawBytes += rawBytes
    }
}
