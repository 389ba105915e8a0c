import Crypto
import EMALogFormats
public import EMALogStore
import Foundation
import NIOCore
import PostgresNIO
import Synchronization

/// `emalog push`: copies a local log into a run of a team store, sending only what the server
/// lacks. Each step's rows (its record, chunk rows, the snapshots taken at it) commit in one
/// transaction, in step order, so the run on the server is always a prefix of the log that every
/// reader can use; the bodies they name (by sha256 of the stored bytes) are uploaded first, in
/// short transactions of their own, and shared by every run that has the same bytes. A push
/// killed at any moment leaves at most bodies nothing names yet, which the next push reuses.
///
/// A body is reused only when the server hashes it to its name: one damaged there is written
/// again, not spread to another run. `repair` also has the server hash every body the run names
/// and writes the damaged ones again from the log (a plain push does not read what it already
/// pushed); metric blocks are compared by the server's hash of their data at every push.
public enum RunPush {
    /// Values per metric block on the server (16 KiB of data).
    static let blockValues = 1024
    /// How many times (0.1 s apart) a push asks for its run's lock before giving up: 30 s.
    static let lockAttempts = 300
    /// Stored bytes of chunk bodies uploaded per statement.
    static let uploadBytes = 16 << 20

    /// Pushes the log `open()` opens (called once per connection, so reads run side by side) to
    /// run `run` (default: the log's id) at `address`, over `connections` connections.
    /// `shard`: the log is rank `rank` of `count` of sharded run `requested` (required then); it
    /// is pushed as run `requested/rankR`, and read with the other ranks as the full tensors.
    public static func push(open: @escaping @Sendable () throws -> any LogStore, to address: String, run requested: String?,
                            shard: (rank: Int, count: Int)? = nil, connections: Int = 2, repair: Bool = false,
                            hooks: PushHooks = PushHooks(),
                            progress: @escaping @Sendable (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> PushReport {
        let start = Date()
        // The log first: a missing or damaged log is named as such, whether or not the server answers.
        let local = try open()
        defer { try? local.close() }
        let logID = try local.read { r in try r.logID() }
        let server = try TeamServer(address)
        defer { server.close() }
        let connection = server.connection
        if shard != nil && requested == nil { throw StoreError.inconsistent("a rank of a sharded run needs the run's name") }
        let name = shard.map { "\(requested!)/rank\($0.rank)" } ?? requested ?? logID
        var report = PushReport()
        report.run = name
        guard !name.isEmpty else { throw StoreError.inconsistent("the log has no id; give --run NAME") }

        // One push per run at a time: a session lock, released when this connection ends. A push
        // killed a moment ago may still hold it until its server process sees the connection
        // gone (after the statement it runs), so the lock is waited for, a while.
        var locked = false
        for _ in 0..<Self.lockAttempts {
            // 64 bits of the name's MD5 (hashtext's 32 bits let run-140366 and run-178447 block each other).
            locked = try connection.row("SELECT pg_try_advisory_lock(('x' || substr(md5(\(name)), 1, 16))::bit(64)::bigint)",
                                        "lock the run") {
                try $0.decode(Bool.self)
            } ?? false
            if locked { break }
            usleep(100_000)
        }
        guard locked else { throw StoreError.runBusy(address: server.url.description, run: name) }
        // What the log holds now, read under the run's lock: a push that waited for another one
        // plans against what that one pushed (later steps an ingest commits meanwhile wait for
        // the next push).
        let plan = try local.read { r in try LocalPlan(r) }

        let runID = try runRow(connection, server: server, name: name, plan: plan, layout: local.layout,
                               shard: shard.map { (requested!, $0.rank, $0.count) })
        report.headerChanged = try pushHeader(connection, runID: runID, plan: plan)
        let remote = try RemoteState(connection, runID: runID)
        let work = try plan.work(against: remote)
        report.replacedSteps = work.replaced.count
        if !work.staleSnapshots.isEmpty {
            _ = try connection.transaction {
                try connection.query("""
                    DELETE FROM run_snapshots WHERE run_id = \(runID) AND id = ANY(\(work.staleSnapshots))
                    """, "delete stale snapshots")
            }
            report.deletedSnapshots = work.staleSnapshots.count
        }

        // Steps in order over `connections` workers: each reads and uploads its step's bodies,
        // then commits the step's rows when the step before it has committed.
        let items = work.items
        let turn = Turn()
        let shared = PushProgress()
        let workers = max(1, min(connections, items.count))
        let url = server.url
        let worker: @Sendable (Int) -> Void = { worker in
            do {
                let conn = worker == 0 ? connection : try ServerConnection(url)
                try prepare(conn)
                let store = worker == 0 ? local : try open()
                defer { if worker != 0 { conn.close(); try? store.close() } }
                var i = worker
                while i < items.count {
                    if shared.failed { return }
                    let staged = try store.read { r in try stage(items[i], reader: r, connection: conn, plan: plan) }
                    try hooks.after?(i, .staged)
                    try turn.wait(for: i, failed: { shared.failed })
                    try conn.transaction {
                        // The step's commit waits for the WAL to reach disk, and with it the bodies
                        // uploaded before it, which do not wait each (`prepare`).
                        try conn.execute("SET LOCAL synchronous_commit = on", "commit durably")
                        try commit(staged, connection: conn, runID: runID)
                    }
                    try hooks.after?(i, .committed)
                    turn.done(i)
                    shared.add(staged)
                    progress(i + 1, items.count)
                    i += workers
                }
            } catch {
                shared.fail(error)
                turn.fail()
            }
        }
        // A thread per worker (not a pool: each may wait for another's turn, so all must run at once).
        let group = DispatchGroup()
        for index in 1..<max(1, workers) {
            group.enter()
            Thread { worker(index); group.leave() }.start()
        }
        worker(0)
        group.wait()
        if let error = shared.error { throw error }
        let t = shared.report
        report.steps = t.steps
        report.snapshots = t.snapshots
        report.bodies = t.bodies
        report.bodyBytes = t.bodyBytes
        report.sharedBytes = t.sharedBytes
        report.repairedBodies = t.repairedBodies

        let (blocks, values) = try local.read { r in try pushMetrics(r, connection, runID: runID, plan: plan) }
        report.metricBlocks = blocks
        report.metricValues = values
        // Last: a repair this log cannot make leaves the rest of the push done.
        if repair { report.repairedBodies += try local.read { r in try repairBodies(r, connection, runID: runID, plan: plan) } }
        if !report.upToDate { try recountTotals(connection, runID: runID) }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }


    /// A push's session: the body uploads (each its own short transaction) do not wait for the
    /// disk; each step's commit does, which makes the bodies before it durable too.
    private static func prepare(_ connection: ServerConnection) throws {
        try connection.execute("SET synchronous_commit = off", "set up the session")
    }

    // MARK: the run and its header

    /// The run's id, creating its row; a name that holds another log is refused, and so is a rank
    /// of another group, or a group named like a run.
    private static func runRow(_ connection: ServerConnection, server: TeamServer, name: String, plan: LocalPlan,
                               layout: ChunkLayout, shard: (group: String, rank: Int, count: Int)?) throws -> Int64 {
        let address = server.url.description
        if let shard {
            guard try !server.hasRun(shard.group) else {
                throw StoreError.runConflict(address: address, run: name, reason: "'\(shard.group)' is a run, not a sharded run's name")
            }
            if let other = try connection.row("SELECT shard_count FROM runs WHERE shard_group = \(shard.group) LIMIT 1", "find the ranks", {
                try $0.decode(Int.self)
            }), other != shard.count {
                throw StoreError.runConflict(address: address, run: name,
                                             reason: "sharded run '\(shard.group)' has \(other) ranks, not \(shard.count)")
            }
            // Each rank holds its own slices: one log pushed as two ranks would read back doubled.
            if let rank = try connection.row("""
                SELECT shard_rank FROM runs WHERE shard_group = \(shard.group) AND log_id = \(plan.logID) AND shard_rank <> \(shard.rank)
                """, "find the ranks", { try $0.decode(Int.self) }) {
                throw StoreError.runConflict(address: address, run: name, reason: "this log was pushed as rank \(rank) of "
                    + "'\(shard.group)'; each rank is its own log (rank-RRRRR.emalog)")
            }
        } else if try server.shardRanks(of: name) != nil {
            throw StoreError.runConflict(address: address, run: name, reason: "it is a sharded run's name; push each rank with --rank")
        }
        try connection.query("""
            INSERT INTO runs (name, log_id, chunk_bytes, created_at, shard_group, shard_rank, shard_count)
            VALUES (\(name), \(plan.logID), \(layout.chunkBytes), \(plan.createdAt), \(shard?.group), \(shard?.rank), \(shard?.count))
            ON CONFLICT (name) DO NOTHING
            """, "create the run")
        guard let (id, logID, chunkBytes, group, rank) = try connection.row(
            "SELECT id, log_id, chunk_bytes, shard_group, shard_rank FROM runs WHERE name = \(name)", "find the run", {
                try $0.decode((Int64, String, Int, String?, Int?).self)
            }) else {
            throw StoreError.inconsistent("run '\(name)' vanished while it was created")
        }
        guard logID == plan.logID else {
            throw StoreError.runConflict(address: address, run: name,
                                         reason: "it holds another log (id \(logID)), this one is \(plan.logID); give another run name")
        }
        guard group == shard?.group, rank == shard?.rank else {
            throw StoreError.runConflict(address: address, run: name, reason: group == nil
                ? "it was pushed as a run of its own, not as a rank" : "it was pushed as rank \(rank ?? 0) of '\(group ?? "")'")
        }
        guard chunkBytes == layout.chunkBytes else {
            throw StoreError.inconsistent("run '\(name)' has chunk size \(chunkBytes), its log \(layout.chunkBytes)")
        }
        return id
    }

    /// Tensors (the first push), ingests, tracks and metric keys the server lacks; true when any was added.
    private static func pushHeader(_ connection: ServerConnection, runID: Int64, plan: LocalPlan) throws -> Bool {
        try connection.transaction {
            var added = 0
            let stored = try connection.rows("SELECT id, name, dtype, shape FROM run_tensors WHERE run_id = \(runID) ORDER BY position",
                                             "read the tensors") { try $0.decode((Int64, String, String, String).self) }
            if stored.isEmpty && !plan.tensors.isEmpty {
                let t = plan.tensors
                try connection.query("""
                    INSERT INTO run_tensors (run_id, id, name, dtype, shape, element_count, position)
                    SELECT \(runID), * FROM unnest(\(t.map(\.id)), \(t.map(\.name)), \(t.map(\.dtype.rawValue)),
                                                   \(t.map { shapeText($0.shape) }), \(t.map { Int64($0.elementCount) }), \(t.map { Int64($0.position) }))
                    """, "store the tensors")
                added += t.count
            } else if !stored.isEmpty {
                let mine = plan.tensors.map { ($0.id, $0.name, $0.dtype.rawValue, shapeText($0.shape)) }
                guard stored.count == mine.count, zip(stored, mine).allSatisfy({ $0 == $1 }) else {
                    throw StoreError.inconsistent("the run's tensors on the server differ from the log's (same log id, another tensor set)")
                }
            }
            let i = plan.ingests
            if !i.isEmpty {
                added += try insertedCount(connection.query("""
                    INSERT INTO run_ingests (run_id, id, started_at, emalog_version, arguments, configuration)
                    SELECT \(runID), * FROM unnest(\(i.map(\.id)), \(i.map(\.startedAt)), \(i.map(\.emalogVersion)),
                                                   \(i.map { argumentsText($0.arguments) }), \(i.map(\.configuration)))
                    ON CONFLICT DO NOTHING RETURNING id
                    """, "store the ingests"))
            }
            let tr = plan.tracks
            if !tr.isEmpty {
                added += try insertedCount(connection.query("""
                    INSERT INTO run_tracks (run_id, id, name, spec)
                    SELECT \(runID), * FROM unnest(\(tr.map(\.id)), \(tr.map(\.name)), \(tr.map(\.spec)))
                    ON CONFLICT DO NOTHING RETURNING id
                    """, "store the tracks"))
            }
            let keys = plan.metricKeys.sorted { $0.value < $1.value }
            if !keys.isEmpty {
                added += try insertedCount(connection.query("""
                    INSERT INTO run_metric_keys (run_id, id, name)
                    SELECT \(runID), * FROM unnest(\(keys.map(\.value)), \(keys.map(\.key)))
                    ON CONFLICT DO NOTHING RETURNING id
                    """, "store the metric keys"))
            }
            // What `runs` lists is true from here on, also when the push stops before its end
            // (steps and stored bytes move with each step's commit, metric values with the metrics).
            if added > 0 {
                try connection.query("""
                    UPDATE runs SET tensor_count = (SELECT count(*) FROM run_tensors WHERE run_id = \(runID)),
                        track_count = (SELECT count(*) FROM run_tracks WHERE run_id = \(runID)) WHERE id = \(runID)
                    """, "count the tensors and tracks")
            }
            return added > 0
        }
    }

    private static func insertedCount(_ rows: [PostgresRow]) -> Int { rows.count }

    /// A shape as both backends store it: a JSON array of dimensions.
    static func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }

    // MARK: steps and snapshots

    /// One transaction's worth: a step (with the snapshots taken at it), or a snapshot alone.
    struct Item: Sendable {
        var step: Int?
        var replace: Bool
        var snapshots: [SnapshotRecord]
    }

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
    struct Staged {
        var step: StepRecord?
        var replace: Bool
        var chunks: [ChunkRow] = []
        var snapshots: [(record: SnapshotRecord, chunks: [ChunkRow])] = []
        var uploaded = 0
        var uploadedBytes = 0
        var sharedBytes = 0
        var repaired = 0
    }

    /// Reads `item` from the log in one read view, uploading the bodies the server lacks.
    private static func stage(_ item: Item, reader r: any LogReader, connection: ServerConnection, plan: LocalPlan) throws -> Staged {
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
        staged.uploaded = uploader.uploaded
        staged.uploadedBytes = uploader.uploadedBytes
        staged.sharedBytes = uploader.sharedBytes
        staged.repaired = uploader.repaired
        return staged
    }

    /// Writes a staged item's rows (inside its transaction).
    private static func commit(_ staged: Staged, connection: ServerConnection, runID: Int64) throws {
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
                INSERT INTO run_steps (run_id, step, ingest_id, source_path, source_size, source_xxh64, metadata, ingested_at)
                VALUES (\(runID), \(step.step), \(step.ingestID), \(step.sourcePath), \(step.sourceSize),
                        \(hex16(step.sourceHash)), \(JSONWriter.object(step.metadata)), \(step.ingestedAt))
                """, "store step \(step.step)")
            try insertChunkRows(staged.chunks, connection: connection, table: "run_chunks", ownerColumn: "step",
                                owner: Int64(step.step), runID: runID)
        }
        for (snapshot, rows) in staged.snapshots {
            try connection.query("""
                INSERT INTO run_snapshots (run_id, id, track_id, step)
                VALUES (\(runID), \(snapshot.id), \(snapshot.trackID), \(snapshot.step))
                """, "store the snapshot at step \(snapshot.step)")
            try insertChunkRows(rows, connection: connection, table: "run_snapshot_chunks", ownerColumn: "snapshot_id",
                                owner: snapshot.id, runID: runID)
        }
        try connection.query("UPDATE runs SET stored_bytes = stored_bytes + \(bytes), pushed_at = now() WHERE id = \(runID)",
                             "count the stored bytes")
    }

    private static func insertChunkRows(_ rows: [ChunkRow], connection: ServerConnection, table: String, ownerColumn: String,
                                        owner: Int64, runID: Int64) throws {
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

    static func hex16(_ value: UInt64) -> String { value.hex16 }

    /// A command line as both backends store it: a JSON array of strings.
    static func argumentsText(_ arguments: [String]) -> String {
        var json = JSONWriter()
        json.array { json in for argument in arguments { json.value(argument) } }
        return json.take()
    }

    // MARK: metrics

    /// Each key's values in blocks of `blockValues` by position; blocks whose checksum the server
    /// already has are skipped, the rest written, extra ones deleted, all in one transaction.
    private static func pushMetrics(_ r: any LogReader, _ connection: ServerConnection, runID: Int64,
                                    plan: LocalPlan) throws -> (blocks: Int, values: Int) {
        // The server's hash of each block's data, not only its xxh64 column: a block changed there
        // is written again.
        var remote: [Int64: [Int: (checksum: Int64, sha256: Data)]] = [:]
        for (key, index, checksum, sha) in try connection.rows(
            "SELECT key_id, block_index, xxh64, sha256(data) FROM run_metric_blocks WHERE run_id = \(runID)", "read the metric blocks", {
                try $0.decode((Int64, Int, Int64, ByteBuffer).self)
            }) { remote[key, default: [:]][index] = (checksum, Data(sha.readableBytesView)) }
        var keys: [Int64] = [], indices: [Int64] = [], firsts: [Int64] = [], lasts: [Int64] = [], counts: [Int64] = []
        var checksums: [Int64] = [], datas: [ByteBuffer] = []
        var extra: [(key: Int64, from: Int)] = []
        var values = 0
        for key in plan.metricKeys.values.sorted() {
            let points = try r.metricValues(keyIDs: [key], steps: 0...StepNumber.largest)
            var index = 0
            for start in stride(from: 0, to: points.count, by: blockValues) {
                var block = MetricBlock(keyID: key)
                for p in points[start..<min(start + blockValues, points.count)] {
                    block.steps.append(p.step)
                    block.values.append(p.value)
                }
                let data = block.encoded()
                let checksum = Int64(bitPattern: data.withUnsafeBytes { XXH64.hash($0) })
                let stored = remote[key]?[index]
                if stored?.checksum != checksum || stored?.sha256 != Data(SHA256.hash(data: data)) {
                    keys.append(key); indices.append(Int64(index)); firsts.append(Int64(block.steps[0]))
                    lasts.append(Int64(block.steps.last!)); counts.append(Int64(block.count)); checksums.append(checksum)
                    datas.append(ByteBuffer(bytes: data))
                    values += block.count
                }
                index += 1
            }
            if let stored = remote[key], stored.keys.contains(where: { $0 >= index }) { extra.append((key, index)) }
        }
        guard !keys.isEmpty || !extra.isEmpty else { return (0, 0) }
        try connection.transaction {
            for (key, from) in extra {
                try connection.query("""
                    DELETE FROM run_metric_blocks WHERE run_id = \(runID) AND key_id = \(key) AND block_index >= \(from)
                    """, "delete metric blocks")
            }
            for start in stride(from: 0, to: keys.count, by: 4096) {
                let r = start..<min(start + 4096, keys.count)
                var binds = PostgresBindings(capacity: 7)
                binds.append(Array(keys[r])); binds.append(Array(indices[r])); binds.append(Array(firsts[r]))
                binds.append(Array(lasts[r])); binds.append(Array(counts[r])); binds.append(Array(checksums[r]))
                binds.append(Array(datas[r]))
                try connection.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO run_metric_blocks (run_id, key_id, block_index, first_step, last_step, count, xxh64, data)
                    SELECT \(runID), * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[],
                                                   $6::BIGINT[], $7::BYTEA[])
                    ON CONFLICT (run_id, key_id, block_index) DO UPDATE SET first_step = excluded.first_step,
                        last_step = excluded.last_step, count = excluded.count, xxh64 = excluded.xxh64, data = excluded.data
                    """, binds: binds), "store metric blocks")
            }
        }
        return (keys.count, values)
    }

    /// The totals `emalog runs` lists, counted from the run's rows.
    private static func recountTotals(_ connection: ServerConnection, runID: Int64) throws {
        try connection.query("""
            UPDATE runs SET
                step_count = (SELECT count(*) FROM run_steps WHERE run_id = \(runID)),
                last_step = (SELECT max(step) FROM run_steps WHERE run_id = \(runID)),
                tensor_count = (SELECT count(*) FROM run_tensors WHERE run_id = \(runID)),
                track_count = (SELECT count(*) FROM run_tracks WHERE run_id = \(runID)),
                stored_bytes = (SELECT coalesce(sum(stored_size), 0) FROM run_chunks WHERE run_id = \(runID))
                    + (SELECT coalesce(sum(stored_size), 0) FROM run_snapshot_chunks WHERE run_id = \(runID))
                    + (SELECT coalesce(sum(length(data)), 0) FROM run_metric_blocks WHERE run_id = \(runID)),
                metric_values = (SELECT coalesce(sum(count), 0) FROM run_metric_blocks WHERE run_id = \(runID)),
                pushed_at = now()
            WHERE id = \(runID)
            """, "count the run's totals")
    }
}
