import EMALogFormats
import EMALogStore
import NIOCore
import PostgresNIO

/// One worker of a push to a team store: stages items (their bodies uploaded by `BodyUploader`,
/// each upload its own short transaction that does not wait for the disk) and commits their rows.
final class ServerPushWorker: PushWorker {
    /// A chunk row ready to commit (its body is on the server).
    struct ChunkRow {
        var tensorID: Int64
        var index: Int
        var codec: String
        var rawSize: Int
        var checksum: UInt64
        var storedSize: Int
        var sha256: ByteBuffer
    }

    /// An item read from the log with its bodies uploaded: only rows are left to commit.
    struct Staged: StagedItem {
        var step: StepRecord?
        var replace: Bool
        var chunks: [ChunkRow] = []
        var snapshots: [(record: SnapshotRecord, chunks: [ChunkRow])] = []
        var counts = StagedCounts()
    }

    let connection: ServerConnection
    /// Whether the worker's connection is its own (closed with it), not the target's.
    let owned: Bool
    let runID: Int64

    /// A worker on `connection`; its session's body uploads do not wait for the disk, each
    /// step's commit does, which makes the bodies before it durable too.
    init(connection: ServerConnection, owned: Bool, runID: Int64) throws {
        self.connection = connection
        self.owned = owned
        self.runID = runID
        do {
            try connection.execute("SET synchronous_commit = off", "set up the session")
        } catch {
            if owned { connection.close() }
            throw error
        }
    }

    /// Reads `item` from the log in one read view, uploading the bodies the server lacks.
    public func stage(_ item: PushItem, reader r: any LogReader, plan: PushPlan) throws -> any StagedItem {
        var staged = Staged(step: nil, replace: item.replace)
        var uploader = BodyUploader(connection: connection)
        if let step = item.step {
            guard let record = try r.stepRecord(step) else { throw StoreError.inconsistent("step \(step) vanished from the log") }
            staged.step = record
            for tensor in plan.tensors {
                try r.forEachStoredChunk(of: tensor, in: .step(step)) { chunk in
                    staged.chunks.append(try uploader.add(chunk, tensorID: tensor.id))
                }
            }
        }
        for snapshot in item.snapshots {
            var rows: [ChunkRow] = []
            for tensor in plan.tensors where tensor.dtype.isFloating {
                try r.forEachStoredChunk(of: tensor, in: .snapshot(snapshot.id)) { chunk in
                    rows.append(try uploader.add(chunk, tensorID: tensor.id))
                }
            }
            staged.snapshots.append((snapshot, rows))
        }
        try uploader.flush()
        staged.counts.steps = staged.step == nil ? 0 : 1
        staged.counts.snapshots = staged.snapshots.count
        staged.counts.bodies = uploader.uploaded
        staged.counts.bodyBytes = uploader.uploadedBytes
        staged.counts.sharedBytes = uploader.sharedBytes
        staged.counts.repairedBodies = uploader.repaired
        return staged
    }

    /// Writes a staged item's rows in one transaction. The commit waits for the WAL to reach disk,
    /// and with it the bodies uploaded before it, which do not wait each.
    public func commit(_ item: any StagedItem) throws {
        guard let staged = item as? Staged else { preconditionFailure("a push commits what its own worker staged") }
        try connection.transaction {
            try connection.execute("SET LOCAL synchronous_commit = on", "commit durably")
            try write(staged)
        }
    }

    private func write(_ staged: Staged) throws {
        // The run's totals move with each commit, so `emalog runs` is current during a push too.
        var bytes = staged.chunks.reduce(0) { $0 + $1.storedSize }
            + staged.snapshots.reduce(0) { $0 + $1.chunks.reduce(0) { $0 + $1.storedSize } }
        if let step = staged.step {
            if staged.replace {
                bytes -= try connection.row("""
                    SELECT coalesce(sum(stored_size), 0)::BIGINT FROM run_chunks WHERE run_id = \(runID) AND step = \(step.step)
                    """, "replace a step") { try $0.decode(Int.self) } ?? 0
                try connection.query("DELETE FROM run_steps WHERE run_id = \(runID) AND step = \(step.step)", "replace a step")
            }
            try connection.query("""
                UPDATE runs SET step_count = step_count + \(staged.replace ? 0 : 1),
                    last_step = greatest(last_step, \(step.step)) WHERE id = \(runID)
                """, "count the step")
            try connection.query("""
                INSERT INTO run_steps (run_id, step, ingest_id, source_path, source_size, source_xxh64, metadata, ingested_at, raw)
                VALUES (\(runID), \(step.step), \(step.ingestID), \(step.sourcePath), \(step.sourceSize),
                        \(step.sourceHash.hex16), \(JSONWriter.object(step.metadata)), \(step.ingestedAt), \(step.raw))
                """, "store step \(step.step)")
            try insertChunkRows(staged.chunks, table: "run_chunks", ownerColumn: "step", owner: Int64(step.step))
        }
        for (snapshot, rows) in staged.snapshots {
            try connection.query("""
                INSERT INTO run_snapshots (run_id, id, track_id, step)
                VALUES (\(runID), \(snapshot.id), \(snapshot.trackID), \(snapshot.step))
                """, "store the snapshot at step \(snapshot.step)")
            try insertChunkRows(rows, table: "run_snapshot_chunks", ownerColumn: "snapshot_id", owner: snapshot.id)
        }
        try connection.query("UPDATE runs SET stored_bytes = stored_bytes + \(bytes), pushed_at = now() WHERE id = \(runID)",
                             "count the stored bytes")
    }

    private func insertChunkRows(_ rows: [ChunkRow], table: String, ownerColumn: String, owner: Int64) throws {
        // Bounded statements: a step of 100k tensors is sent in parts.
        for start in stride(from: 0, to: rows.count, by: 20_000) {
            let part = rows[start..<min(start + 20_000, rows.count)]
            var binds = PostgresBindings(capacity: 7)
            binds.append(part.map(\.tensorID))
            binds.append(part.map { Int64($0.index) })
            binds.append(part.map(\.codec))
            binds.append(part.map { Int64($0.rawSize) })
            binds.append(part.map { Int64(bitPattern: $0.checksum) })
            binds.append(part.map { Int64($0.storedSize) })
            binds.append(part.map(\.sha256))
            try connection.query(PostgresQuery(unsafeSQL: """
                INSERT INTO \(table) (run_id, \(ownerColumn), tensor_id, chunk_index, codec, raw_size, xxh64, stored_size, sha256)
                SELECT \(runID), \(owner), * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[],
                                                         $6::BIGINT[], $7::BYTEA[])
                """, binds: binds), "store chunk rows")
        }
    }

    func close() { if owned { connection.close() } }
}
