import EMALogFormats
import Foundation
import GRDB

/// Read access to a log, valid only inside `LogStore.read {}` or `write {}`.
public struct StoreReader {
    let db: Database
    /// The log's path, for messages.
    public let path: String
    /// Largest chunk, in bytes.
    public let chunkBytes: Int

    /// The log's identity (a UUID made when it was created).
    public func logID() throws -> String {
        try String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'log_id'") ?? ""
    }

    /// The log's tensor set, in data order; empty before the first step.
    public func tensors() throws -> [TensorRecord] {
        try Row.fetchAll(db, sql: "SELECT id, name, dtype, shape, position FROM tensors ORDER BY position").map { row in
            let dtypeName: String = row["dtype"]
            guard let dtype = DType(rawValue: dtypeName) else {
                throw StoreError.inconsistent("tensor \(row["name"] as String) has unknown dtype \(dtypeName)")
            }
            let shapeText: String = row["shape"]
            let shape = try JSONDecoder().decode([Int].self, from: Data(shapeText.utf8))
            return TensorRecord(id: row["id"], name: row["name"], dtype: dtype, shape: shape, position: row["position"])
        }
    }

    /// Every stored step number, ascending.
    public func stepNumbers() throws -> [Int] {
        try Int.fetchAll(db, sql: "SELECT step FROM steps ORDER BY step")
    }

    /// The latest stored step.
    public func lastStep() throws -> Int? {
        try Int.fetchOne(db, sql: "SELECT max(step) FROM steps")
    }

    /// The first stored step.
    public func firstStep() throws -> Int? {
        try Int.fetchOne(db, sql: "SELECT min(step) FROM steps")
    }

    /// The closest stored steps below and above `step`.
    public func neighbours(of step: Int) throws -> (below: Int?, above: Int?) {
        (try Int.fetchOne(db, sql: "SELECT max(step) FROM steps WHERE step < ?", arguments: [step]),
         try Int.fetchOne(db, sql: "SELECT min(step) FROM steps WHERE step > ?", arguments: [step]))
    }

    /// The audit record of `step`, if stored.
    public func stepRecord(_ step: Int) throws -> StepRecord? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM steps WHERE step = ?", arguments: [step]) else {
            return nil
        }
        let metadataText: String = row["metadata"]
        let metadata = (try? JSONDecoder().decode([String: String].self, from: Data(metadataText.utf8))) ?? [:]
        return StepRecord(step: row["step"], ingestID: row["ingest_id"], sourcePath: row["source_path"],
                          sourceSize: row["source_size"], sourceHash: UInt64(row["source_xxh64"] as String, radix: 16) ?? 0,
                          metadata: metadata, ingestedAt: row["ingested_at"])
    }

    /// Stored tracks, by id.
    public func tracks() throws -> [TrackRecord] {
        try Row.fetchAll(db, sql: "SELECT id, name, spec FROM tracks ORDER BY id").map {
            TrackRecord(id: $0["id"], name: $0["name"], spec: $0["spec"])
        }
    }

    /// A track's snapshots, ascending by step.
    public func snapshots(track: Int64) throws -> [SnapshotRecord] {
        try Row.fetchAll(db, sql: "SELECT id, track_id, step FROM snapshots WHERE track_id = ? ORDER BY step",
                         arguments: [track]).map { SnapshotRecord(id: $0["id"], trackID: $0["track_id"], step: $0["step"]) }
    }

    /// The track's latest snapshot at or before `step`.
    public func snapshot(track: Int64, atOrBefore step: Int) throws -> SnapshotRecord? {
        try Row.fetchOne(db, sql: """
            SELECT id, track_id, step FROM snapshots WHERE track_id = ? AND step <= ? ORDER BY step DESC LIMIT 1
            """, arguments: [track, step]).map { SnapshotRecord(id: $0["id"], trackID: $0["track_id"], step: $0["step"]) }
    }

    /// Totals for `info`.
    public func summary() throws -> StoreSummary {
        let steps = try Row.fetchOne(db, sql: "SELECT count(*), min(step), max(step) FROM steps")!
        let chunks = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(length(data)), 0) FROM chunks")!
        let snaps = try Row.fetchOne(db, sql: "SELECT (SELECT count(*) FROM snapshots), coalesce(sum(length(data)), 0) FROM snapshot_chunks")!
        let metrics = try Row.fetchOne(db, sql: "SELECT (SELECT count(*) FROM metric_keys), (SELECT count(*) FROM metrics)")!
        let ingests = try Int.fetchOne(db, sql: "SELECT count(*) FROM ingests") ?? 0
        var summary = StoreSummary(stepCount: steps[0], firstStep: steps[1], lastStep: steps[2], chunkCount: chunks[0],
                                   chunkBytes: chunks[1], snapshotCount: snaps[0], snapshotBytes: snaps[1],
                                   metricKeyCount: metrics[0], metricValueCount: metrics[1], ingestCount: ingests)
        summary.codecs = try Row.fetchAll(db, sql: """
            SELECT codec, count(*), sum(length(data)), sum(raw_size) FROM chunks GROUP BY codec ORDER BY sum(length(data)) DESC
            """).map { (codec: $0[0], chunks: $0[1], storedBytes: $0[2], rawBytes: $0[3]) }
        return summary
    }

    /// Applied migrations, in order.
    public func appliedMigrations() throws -> [String] {
        try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
    }
}

extension StoreReader {
    /// SQLite's `PRAGMA integrity_check` lines ("ok" when sound).
    public func integrityCheck() throws -> [String] {
        try String.fetchAll(db, sql: "PRAGMA integrity_check")
    }
}
