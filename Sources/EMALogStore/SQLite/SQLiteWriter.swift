import EMALogFormats
import Foundation
import GRDB

/// `LogWriter` over SQLite, valid only inside `SQLiteLogStore.write {}`: everything commits together.
struct SQLiteWriter: SQLiteAccess, LogWriter {
    let db: Database
    let path: String
    let layout: ChunkLayout

    /// Records an ingest in the audit trail; returns its id.
    func insertIngest(arguments: [String], configuration: String) throws -> Int64 {
        var json = JSONWriter()
        json.array { json in for argument in arguments { json.value(argument) } }
        let args = json.take()
        try db.execute(sql: """
            INSERT INTO ingests (started_at, emalog_version, arguments, configuration) VALUES (?, ?, ?, ?)
            """, arguments: [Timestamp.now(), EMALogVersion.current, args, configuration])
        return db.lastInsertedRowID
    }

    /// Defines the log's tensor set (first step only).
    func insertTensors(_ tensors: [TensorLayout]) throws -> [TensorRecord] {
        var records: [TensorRecord] = []
        for (position, tensor) in tensors.enumerated() {
            var json = JSONWriter()
            json.array { json in for dim in tensor.shape { json.value(dim) } }
            let shape = json.take()
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
            INSERT INTO steps (step, ingest_id, source_path, source_size, source_xxh64, metadata, ingested_at)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """, arguments: [record.step, record.ingestID, record.sourcePath, record.sourceSize,
                             record.sourceHash.hex16, JSONWriter.object(record.metadata), record.ingestedAt])
    }

    /// Replaces a stored step's record and drops its chunks, ready for new ones (`--replace`).
    func replaceStep(_ record: StepRecord) throws {
        try db.execute(sql: "DELETE FROM chunks WHERE step = ?", arguments: [record.step])
        try db.execute(sql: """
            UPDATE steps SET ingest_id = ?, source_path = ?, source_size = ?, source_xxh64 = ?, metadata = ?,
            ingested_at = ? WHERE step = ?
            """, arguments: [record.ingestID, record.sourcePath, record.sourceSize, record.sourceHash.hex16,
                             JSONWriter.object(record.metadata), record.ingestedAt, record.step])
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
        return try rows.map { (try $0.decode(forColumn: "track_id"), try $0.decode(forColumn: "step")) }
    }
}
