import Crypto
import EMALogFormats
public import EMALogStore
import Foundation
import NIOCore
import PostgresNIO

/// A push into a run of a team store on PostgreSQL (Core's `Push` drives it). Chunk bodies are
/// named by the sha256 of their stored bytes and shared by every run that has the same bytes; a
/// body is reused only when the server hashes it to its name, so one damaged there is written
/// again, not spread to another run. `repairBodies` also has the server hash every body the run
/// names (a plain push does not read what it already pushed); metric blocks are compared by the
/// server's hash of their data at every push.
public final class ServerPushTarget: PushTarget {
    /// Values per metric block on the server (16 KiB of data).
    static let blockValues = 1024
    /// How many times (0.1 s apart) a push asks for its run's lock before giving up: 30 s.
    static let lockAttempts = 300
    /// Stored bytes of chunk bodies uploaded per statement.
    static let uploadBytes = 16 << 20

    let server: TeamServer
    let connection: ServerConnection
    /// The run's id, once `open` has found or created it.
    private(set) var runID: Int64 = 0
    public var address: String { server.url.description }

    /// Connects to the team store at `address` (its schema brought up to date).
    public init(address: String) throws(StoreError) {
        server = try TeamServer(address)
        connection = server.connection
    }

    /// One push per run at a time: a session lock, released when this connection ends. A push
    /// killed a moment ago may still hold it until its server process sees the connection gone
    /// (after the statement it runs), so the lock is waited for, a while.
    public func lock(run name: String) throws {
        for _ in 0..<Self.lockAttempts {
            // 64 bits of the name's MD5 (hashtext's 32 bits let run-140366 and run-178447 block each other).
            let locked = try connection.row("SELECT pg_try_advisory_lock(('x' || substr(md5(\(name)), 1, 16))::bit(64)::bigint)",
                                            "lock the run") {
                try $0.decode(Bool.self)
            } ?? false
            if locked { return }
            usleep(100_000)
        }
        throw StoreError.runBusy(address: address, run: name)
    }

    /// Creates the run's row (its id kept for what follows); a name that holds another log is
    /// refused, and so is a rank of another group, or a group named like a run.
    public func open(run name: String, plan: PushPlan, layout: ChunkLayout, shard: ShardPlace?) throws {
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
        runID = id
    }

    /// Tensors (the first push), ingests, tracks and metric keys the server lacks; true when any was added.
    public func writeHeader(_ plan: PushPlan) throws -> Bool {
        try connection.transaction {
            var added = 0
            let stored = try connection.rows("SELECT id, name, dtype, shape FROM run_tensors WHERE run_id = \(runID) ORDER BY position",
                                             "read the tensors") { try $0.decode((Int64, String, String, String).self) }
            if stored.isEmpty && !plan.tensors.isEmpty {
                let t = plan.tensors
                try connection.query("""
                    INSERT INTO run_tensors (run_id, id, name, dtype, shape, element_count, position)
                    SELECT \(runID), * FROM unnest(\(t.map(\.id)), \(t.map(\.name)), \(t.map(\.dtype.rawValue)),
                                                   \(t.map { StoredText.text(ofShape: $0.shape) }), \(t.map { Int64($0.elementCount) }), \(t.map { Int64($0.position) }))
                    """, "store the tensors")
                added += t.count
            } else if !stored.isEmpty {
                let mine = plan.tensors.map { ($0.id, $0.name, $0.dtype.rawValue, StoredText.text(ofShape: $0.shape)) }
                guard stored.count == mine.count, zip(stored, mine).allSatisfy({ $0 == $1 }) else {
                    throw StoreError.inconsistent("the run's tensors on the server differ from the log's (same log id, another tensor set)")
                }
            }
            let i = plan.ingests
            if !i.isEmpty {
                added += try insertedCount(connection.query("""
                    INSERT INTO run_ingests (run_id, id, started_at, emalog_version, arguments, configuration)
                    SELECT \(runID), * FROM unnest(\(i.map(\.id)), \(i.map(\.startedAt)), \(i.map(\.emalogVersion)),
                                                   \(i.map { StoredText.text(ofArguments: $0.arguments) }), \(i.map(\.configuration)))
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

    private func insertedCount(_ rows: [PostgresRow]) -> Int { rows.count }


    /// The run's steps and snapshots on the server.
    public func state() throws -> RunState {
        var state = RunState()
        for (step, hash, at, ingest, raw) in try connection.rows(
            "SELECT step, source_xxh64, ingested_at, ingest_id, raw FROM run_steps WHERE run_id = \(runID)", "read the run's steps", {
                try $0.decode((Int, String, String, Int64, Bool).self)
            }) { state.steps[step] = StepKey(sourceHash: hash, ingestedAt: at, ingestID: ingest, raw: raw) }
        for (id, track, step) in try connection.rows(
            "SELECT id, track_id, step FROM run_snapshots WHERE run_id = \(runID)", "read the run's snapshots", {
                try $0.decode((Int64, Int64, Int).self)
            }) { state.snapshots[id] = SnapshotRecord(id: id, trackID: track, step: step) }
        return state
    }

    public func writePins(_ plan: PushPlan) throws -> Int {
        try connection.transaction {
            let stored = try connection.rows("SELECT name, step, pinned_at FROM run_pins WHERE run_id = \(runID)", "read the pins") {
                let (name, step, at) = try $0.decode((String, Int, String).self)
                return PinRecord(name: name, step: step, pinnedAt: at)
            }
            let wanted = Set(plan.pins.map(\.name))
            let gone = stored.filter { !wanted.contains($0.name) }.map(\.name)
            let changed = plan.pins.filter { !stored.contains($0) }
            if !gone.isEmpty {
                try connection.query("DELETE FROM run_pins WHERE run_id = \(runID) AND name = ANY(\(gone))", "delete pins")
            }
            for pin in changed {
                try connection.query("""
                    INSERT INTO run_pins (run_id, name, step, pinned_at) VALUES (\(runID), \(pin.name), \(pin.step), \(pin.pinnedAt))
                    ON CONFLICT (run_id, name) DO UPDATE SET step = excluded.step, pinned_at = excluded.pinned_at
                    """, "store a pin")
            }
            return gone.count + changed.count
        }
    }

    public func deleteSteps(after step: Int) throws -> Int {
        try connection.transaction {
            // Their chunk rows and pins go with them (ON DELETE CASCADE); their snapshots are stale.
            try connection.query("DELETE FROM run_steps WHERE run_id = \(runID) AND step > \(step) RETURNING step",
                                 "delete the steps a truncation removed").count
        }
    }

    public func deleteSnapshots(_ ids: [Int64]) throws {
        _ = try connection.transaction {
            try connection.query("DELETE FROM run_snapshots WHERE run_id = \(runID) AND id = ANY(\(ids))", "delete stale snapshots")
        }
    }

    /// A worker sets its session's uploads not to wait for the disk (`ServerPushWorker.init`); on
    /// the shared connection that setting stays for the metrics and totals written after the
    /// steps, as it always did: they commit without waiting for the WAL, and the next durable
    /// commit (a step's, the repair's, the next push's) makes them durable.
    public func worker(shared: Bool) throws -> any PushWorker {
        try ServerPushWorker(connection: shared ? connection : try ServerConnection(server.url), owned: !shared, runID: runID)
    }

    /// The totals `emalog runs` lists, counted from the run's rows.
    public func recountTotals() throws {
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

    public func close() { server.close() }
}
