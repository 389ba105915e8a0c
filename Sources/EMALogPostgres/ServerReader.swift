import Crypto
import EMALogFormats
import EMALogStore
import Foundation
import NIOCore
import PostgresNIO

/// `LogReader` over one run of a team store, valid only inside `ServerRunStore.read {}` (one
/// REPEATABLE READ transaction: a consistent view while a push writes). Every row is validated as
/// the SQLite backend validates its own, so a damaged or hand-edited database is
/// `StoreError.inconsistent`, never a crash; chunk bodies are checked against their stored size.
final class ServerReader: LogReader {
    let path: String
    let layout: ChunkLayout
    let connection: ServerConnection
    let runID: Int64
    /// Raw chunks fetched ahead: a replay reads one chunk of one tensor step after step, so each
    /// query brings the next steps of that chunk (up to 64, `queryBytes` of them) in one round
    /// trip, while the chunks held ahead stay under `prefetchBytes` in all.
    private var ahead: [ChunkKey: [Int: StoredChunk]] = [:]
    private var aheadBytes = 0
    static let prefetchBytes = 128 << 20
    /// Raw bytes of chunks one query fetches ahead at most.
    static let queryBytes = 2 << 20

    struct ChunkKey: Hashable {
        var tensor: Int64
        var index: Int
    }

    init(path: String, layout: ChunkLayout, connection: ServerConnection, runID: Int64) {
        self.path = path
        self.layout = layout
        self.connection = connection
        self.runID = runID
    }

    func logID() throws -> String {
        let id = try connection.row("SELECT log_id FROM runs WHERE id = \(runID)", "read the run") { try $0.decode(String.self) } ?? ""
        if let problem = StoredText.nameProblem(id) { throw StoreError.inconsistent("the run's log_id is not a log's id: \(problem)") }
        return id
    }

    func tensors() throws -> [TensorRecord] {
        let records = try connection.rows(
            "SELECT id, name, dtype, shape, element_count, position FROM run_tensors WHERE run_id = \(runID) ORDER BY position",
            "read the tensors") { row in
            let (id, name, dtype, shapeText, count, position) = try row.decode((Int64, String, String, String, Int, Int).self)
            return try TensorRecord(validating: id, name: name, dtype: dtype, shape: StoredText.shape(shapeText), shapeText: shapeText,
                                    elementCount: count, position: position)
        }
        try checkFirstStepHolds(records)
        return records
    }

    /// The first step's chunks must hold each tensor's bytes, as in a local log.
    private func checkFirstStepHolds(_ tensors: [TensorRecord]) throws {
        guard !tensors.isEmpty, let first = try firstStep() else { return }
        var held: [Int64: (chunks: Int, bytes: Int)] = [:]
        for (id, chunks, bytes) in try connection.rows("""
            SELECT tensor_id, count(*)::BIGINT, sum(raw_size)::BIGINT FROM run_chunks WHERE run_id = \(runID) AND step = \(first)
            GROUP BY tensor_id
            """, "count the first step's chunks", { try $0.decode((Int64, Int, Int).self) }) {
            held[id] = (chunks, bytes)
        }
        try TensorRecord.checkFirstStep(first, holds: tensors, held: held, layout: layout, store: "run")
    }

    // MARK: steps

    private func steps(_ query: PostgresQuery) throws -> [Int] {
        try StoredStep.checked(try connection.rows(query, "read the steps") { try $0.decode(Int.self) }, "run_steps")
    }

    private func step(_ query: PostgresQuery) throws -> Int? {
        try StoredStep.checked(try connection.row(query, "read the steps") { try $0.decode(Int?.self) } ?? nil, "run_steps")
    }

    func stepNumbers() throws -> [Int] {
        try steps("SELECT step FROM run_steps WHERE run_id = \(runID) ORDER BY step")
    }

    func stepNumbers(in range: ClosedRange<Int>) throws -> [Int] {
        try steps("""
            SELECT step FROM run_steps WHERE run_id = \(runID) AND step BETWEEN \(range.lowerBound) AND \(range.upperBound) ORDER BY step
            """)
    }

    func firstStep() throws -> Int? { try step("SELECT min(step) FROM run_steps WHERE run_id = \(runID)") }
    func lastStep() throws -> Int? { try step("SELECT max(step) FROM run_steps WHERE run_id = \(runID)") }

    func neighbours(of step: Int) throws -> (below: Int?, above: Int?) {
        (try self.step("SELECT max(step) FROM run_steps WHERE run_id = \(runID) AND step < \(step)"),
         try self.step("SELECT min(step) FROM run_steps WHERE run_id = \(runID) AND step > \(step)"))
    }

    func rawStepNumbers(in range: ClosedRange<Int>) throws -> [Int] {
        try steps("""
            SELECT step FROM run_steps WHERE run_id = \(runID) AND raw AND step BETWEEN \(range.lowerBound) AND \(range.upperBound)
            ORDER BY step
            """)
    }

    func rawNeighbours(of step: Int) throws -> (below: Int?, above: Int?) {
        (try self.step("SELECT max(step) FROM run_steps WHERE run_id = \(runID) AND raw AND step < \(step)"),
         try self.step("SELECT min(step) FROM run_steps WHERE run_id = \(runID) AND raw AND step > \(step)"))
    }

    func stepRecord(_ step: Int) throws -> StepRecord? {
        try stepRecords(in: step...step).first
    }

    func stepRecords(in range: ClosedRange<Int>) throws -> [StepRecord] {
        try connection.rows("""
            SELECT step, ingest_id, source_path, source_size, source_xxh64, metadata, ingested_at, raw FROM run_steps
            WHERE run_id = \(runID) AND step BETWEEN \(range.lowerBound) AND \(range.upperBound) ORDER BY step
            """, "read the steps") { row in
            let (step, ingest, source, size, hashText, metadataText, at, raw) = try row.decode((Int, Int64, String, Int, String, String, String, Bool).self)
            return try StepRecord(validating: step, in: "run_steps", ingestID: ingest, sourcePath: source, sourceSize: size,
                                  hashText: hashText, metadataText: metadataText, ingestedAt: at, raw: raw)
        }
    }

    // MARK: tracks, snapshots, audit trail

    func tracks() throws -> [TrackRecord] {
        try connection.rows("SELECT id, name, spec FROM run_tracks WHERE run_id = \(runID) ORDER BY id", "read the tracks") { row in
            let (id, name, spec) = try row.decode((Int64, String, String).self)
            return TrackRecord(id: id, name: name, spec: spec)
        }
    }

    private func snapshotRecords(_ query: PostgresQuery) throws -> [SnapshotRecord] {
        try connection.rows(query, "read the snapshots") { row in
            let (id, track, step) = try row.decode((Int64, Int64, Int).self)
            return SnapshotRecord(id: id, trackID: track, step: try StoredStep.checked(step, "run_snapshots"))
        }
    }

    /// A push writes the log's snapshots as they are; what the log owes stays with the log.
    func owedSnapshots() throws -> [(track: Int64, step: Int)] { [] }

    func snapshots(track: Int64) throws -> [SnapshotRecord] {
        try snapshotRecords("SELECT id, track_id, step FROM run_snapshots WHERE run_id = \(runID) AND track_id = \(track) ORDER BY step")
    }

    func snapshot(track: Int64, atOrBefore step: Int) throws -> SnapshotRecord? {
        try snapshotRecords("""
            SELECT id, track_id, step FROM run_snapshots WHERE run_id = \(runID) AND track_id = \(track) AND step <= \(step)
            ORDER BY step DESC LIMIT 1
            """).first
    }

    func summary() throws -> StoreSummary {
        let (count, first, last) = try connection.row(
            "SELECT count(*)::BIGINT, min(step), max(step) FROM run_steps WHERE run_id = \(runID)", "count the steps") {
            try $0.decode((Int, Int?, Int?).self)
        }!
        let (snapshots, snapshotBytes) = try connection.row("""
            SELECT (SELECT count(*) FROM run_snapshots WHERE run_id = \(runID))::BIGINT,
                   coalesce(sum(stored_size), 0)::BIGINT FROM run_snapshot_chunks WHERE run_id = \(runID)
            """, "count the snapshots") { try $0.decode((Int, Int).self) }!
        let (keys, values) = try connection.row("""
            SELECT (SELECT count(*) FROM run_metric_keys WHERE run_id = \(runID))::BIGINT,
                   coalesce(sum(count), 0)::BIGINT FROM run_metric_blocks WHERE run_id = \(runID)
            """, "count the metrics") { try $0.decode((Int, Int).self) }!
        let ingests = try connection.row("SELECT count(*)::BIGINT FROM run_ingests WHERE run_id = \(runID)", "count the ingests") {
            try $0.decode(Int.self)
        } ?? 0
        let codecs = try connection.rows("""
            SELECT codec, count(*)::BIGINT, sum(stored_size)::BIGINT, sum(raw_size)::BIGINT FROM run_chunks
            WHERE run_id = \(runID) GROUP BY codec
            """, "count the chunks") { row in
            let (codec, chunks, stored, raw) = try row.decode((String, Int, Int, Int).self)
            return (codec: codec, chunks: chunks, storedBytes: stored, rawBytes: raw)
        }
        for step in [first, last] { _ = try StoredStep.checked(step, "run_steps") }
        return StoreSummary(
            stepCount: count, firstStep: first, lastStep: last, chunkCount: codecs.reduce(0) { $0 &+ $1.chunks },
            chunkBytes: codecs.reduce(0) { $0 &+ $1.storedBytes }, snapshotCount: snapshots, snapshotBytes: snapshotBytes,
            metricKeyCount: keys, metricValueCount: values, ingestCount: ingests, codecs: codecs)
    }

    /// The team store's schema migrations (a run has no schema of its own).
    func appliedMigrations() throws -> [String] {
        try ServerMigrations.recorded(connection)
    }

    func pins() throws -> [PinRecord] {
        try connection.rows("SELECT name, step, pinned_at FROM run_pins WHERE run_id = \(runID) ORDER BY name", "read the pins") { row in
            let (name, step, at) = try row.decode((String, Int, String).self)
            return try PinRecord(validating: name, step: step, pinnedAt: at, in: "run_pins")
        }
    }

    func ingests() throws -> [IngestRecord] {
        try connection.rows("""
            SELECT id, started_at, emalog_version, arguments, configuration FROM run_ingests WHERE run_id = \(runID) ORDER BY id
            """, "read the ingests") { row in
            let (id, started, version, argumentsText, configuration) = try row.decode((Int64, String, String, String, String).self)
            return try IngestRecord(validating: id, startedAt: started, emalogVersion: version, argumentsText: argumentsText,
                                    configuration: configuration)
        }
    }

    /// Blocks that do not decode, overlap the one before, or belong to no key.
    func damagedMetricRows() throws -> [DamagedMetricRow] {
        var damaged: [DamagedMetricRow] = []
        let keys = Set(try metricKeys().values)
        var reach: (key: Int64, last: Int)?
        for block in try blockRows("run_id = \(runID)", order: "key_id, block_index") {
            let reached = reach?.key == block.key ? reach?.last : nil
            reach = (block.key, max(block.last, reached ?? block.last))
            guard keys.contains(block.key) else {
                damaged.append(DamagedMetricRow(step: block.first, keyID: block.key, problem: "its block's key id names no metric key"))
                continue
            }
            if let reached, block.first <= reached {
                damaged.append(DamagedMetricRow(step: block.first, keyID: block.key,
                                                problem: "its block overlaps the one before, which reaches step \(reached)"))
            }
            do { _ = try block.decoded() } catch {
                damaged.append(DamagedMetricRow(step: block.first, keyID: block.key, problem: "\(error)"))
            }
        }
        return damaged.sorted { ($0.step, $0.keyID) < ($1.step, $1.keyID) }
    }

    /// Chunk rows (of steps and snapshots) whose body is missing, of another size than recorded or
    /// not the bytes its sha256 names (the server hashes them: bodies are shared by hash, so one
    /// damaged there is damaged in every run that names it), one line each; "ok" when there are none.
    /// A CTE `named`: each body sha256 that run `runID` names (steps and snapshots), once, so a
    /// body the server hashes is hashed once however many rows share it.
    static func namedBodies(_ runID: Int64) -> String {
        """
        named AS (
            SELECT sha256 FROM run_chunks WHERE run_id = \(runID)
            UNION SELECT sha256 FROM run_snapshot_chunks WHERE run_id = \(runID))
        """
    }

    func integrityCheck() throws -> [String] {
        let problems = try connection.rows(PostgresQuery(unsafeSQL: """
            WITH \(Self.namedBodies(runID)),
            bodies AS (
                SELECT n.sha256, length(b.body) AS size, b.sha256 IS NOT NULL AND sha256(b.body) = n.sha256 AS intact
                FROM named n LEFT JOIN chunk_bodies b ON b.sha256 = n.sha256),
            found AS (
                SELECT 0 AS kind, c.step AS at, c.tensor_id, c.chunk_index, c.stored_size, x.size, x.intact
                FROM run_chunks c JOIN bodies x ON x.sha256 = c.sha256
                WHERE c.run_id = \(runID) AND (NOT x.intact OR x.size IS DISTINCT FROM c.stored_size)
                UNION ALL
                SELECT 1, s.step, c.tensor_id, c.chunk_index, c.stored_size, x.size, x.intact
                FROM run_snapshot_chunks c JOIN run_snapshots s ON s.run_id = c.run_id AND s.id = c.snapshot_id
                JOIN bodies x ON x.sha256 = c.sha256
                WHERE c.run_id = \(runID) AND (NOT x.intact OR x.size IS DISTINCT FROM c.stored_size))
            SELECT CASE WHEN kind = 0 THEN 'step ' ELSE 'snapshot at step ' END || at || ' tensor ' || tensor_id
                   || ' chunk ' || chunk_index || ': ' ||
                   CASE WHEN size IS NULL THEN 'its body is missing'
                        WHEN size != stored_size THEN 'its body holds ' || size || ' bytes, the row says ' || stored_size
                        ELSE 'its body is not the bytes its sha256 names (damaged on the server; `emalog push --repair` '
                             || 'from an intact copy of the log mends it)' END
            FROM found ORDER BY kind, at, tensor_id, chunk_index LIMIT 100
            """), "check the chunk bodies") { try $0.decode(String.self) }
        return problems.isEmpty ? ["ok"] : problems
    }

    /// The run's totals are recounted by every push; nothing is kept that could drift.
    func totalsProblems() throws -> [String] { [] }

    // MARK: metrics

    func metricKeys() throws -> [String: Int64] {
        var keys: [String: Int64] = [:]
        for (id, name) in try connection.rows("SELECT id, name FROM run_metric_keys WHERE run_id = \(runID)", "read the metric keys", {
            try $0.decode((Int64, String).self)
        }) { keys[name] = id }
        return keys
    }

    /// A `run_metric_blocks` row as stored.
    struct BlockRow {
        var key: Int64
        var index: Int
        var first: Int
        var last: Int
        var count: Int
        var checksum: Int64
        var data: [UInt8]

        /// The block's values, once its data is the bytes its xxh64 names (the push computed it
        /// from the log; a block changed on the server would otherwise read, audit and pull as true).
        func decoded() throws(StoreError) -> MetricBlock {
            guard data.withUnsafeBytes({ XXH64.hash($0) }) == UInt64(bitPattern: checksum) else {
                throw StoreError.checksumMismatch(what: "the metric block of key id \(key) at step \(first) on the server (its data "
                    + "is not what its xxh64 names; `emalog push --repair` from an intact copy of the log mends it)")
            }
            return try MetricBlock(keyID: key, firstStep: first, lastStep: last, count: count, data: data)
        }
    }

    func blockRows(_ condition: String, order: String) throws -> [BlockRow] {
        try connection.rows(PostgresQuery(unsafeSQL: """
            SELECT key_id, block_index, first_step, last_step, count, xxh64, data FROM run_metric_blocks
            WHERE \(condition) ORDER BY \(order)
            """), "read the metric blocks") { row in
            let (key, index, first, last, count, checksum, data) = try row.decode((Int64, Int, Int, Int, Int, Int64, ByteBuffer).self)
            return BlockRow(key: key, index: index, first: first, last: last, count: count, checksum: checksum,
                            data: [UInt8](data.readableBytesView))
        }
    }

    func metricValues(keyIDs: [Int64], steps range: ClosedRange<Int>) throws -> [MetricValue] {
        guard !keyIDs.isEmpty else { return [] }
        var out: [MetricValue] = []
        for key in keyIDs {
            var walk = MetricBlock.Walk(keyID: key, steps: range)
            for row in try blockRows("""
                run_id = \(runID) AND key_id = \(key) AND last_step >= \(range.lowerBound) AND first_step <= \(range.upperBound)
                """, order: "block_index") {
                try walk.add(try row.decoded(), to: &out)
            }
        }
        if keyIDs.count > 1 { out.sort { $0.step != $1.step ? $0.step < $1.step : $0.keyID < $1.keyID } }
        return out
    }

    // MARK: chunks

    private static let chunkColumns = "c.chunk_index, c.codec, c.raw_size, c.xxh64, c.stored_size, b.body, c.sha256"

    /// A chunk row with its body, validated; `step` comes first when `withStep`.
    private func storedChunk(_ row: PostgresRow, owner: ChunkOwner?, tensor: TensorRecord) throws -> StoredChunk {
        var owner = owner
        let columns = row.makeRandomAccess()
        var first = 0
        if owner == nil {
            owner = .step(try StoredStep.checked(try columns[0].decode(Int.self), "run_chunks"))
            first = 1
        }
        let index = try columns[first].decode(Int.self)
        let codec = try columns[first + 1].decode(String.self)
        let raw = try columns[first + 2].decode(Int.self)
        let checksum = try columns[first + 3].decode(Int64.self)
        let storedSize = try columns[first + 4].decode(Int.self)
        guard let body = try columns[first + 5].decode(ByteBuffer?.self) else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' \(owner!.label): the body of chunk \(index) is missing")
        }
        guard body.readableBytes == storedSize else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' \(owner!.label): the body of chunk \(index) holds "
                + "\(body.readableBytes) bytes, its row says \(storedSize)")
        }
        // Bodies are shared by hash: one damaged on the server would be every run's that names it,
        // and a pull copies stored bytes without decoding them, so each is checked here.
        let named = try columns[first + 6].decode(ByteBuffer.self)
        guard body.withUnsafeReadableBytes({ SHA256.hash(data: $0) }).elementsEqual(named.readableBytesView) else {
            throw StoreError.checksumMismatch(what: "tensor '\(tensor.name)' \(owner!.label): the body of chunk \(index) on the server is "
                + "not the bytes its sha256 names (damaged there; `emalog push --repair` from an intact copy of the log mends it)")
        }
        return try StoredChunk(owner: owner!, tensor: tensor, layout: layout, codec: codec, index: index, rawSize: raw,
                               checksum: UInt64(bitPattern: checksum), payload: [UInt8](body.readableBytesView))
    }

    private func chunks(_ query: PostgresQuery, owner: ChunkOwner?, tensor: TensorRecord) throws -> [StoredChunk] {
        let rows = try connection.query(query, "read chunks of '\(tensor.name)'")
        do {
            return try rows.map { try storedChunk($0, owner: owner, tensor: tensor) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.inconsistent("a chunk row of '\(tensor.name)' cannot be read: \(String("\(error)".prefix(200)))")
        }
    }

    func forEachStoredChunk(of tensor: TensorRecord, in owner: ChunkOwner, _ body: (StoredChunk) throws -> Void) throws {
        // A tensor's chunks a few at a time, so one large tensor is never all in memory.
        let perQuery = max(1, (32 << 20) / layout.chunkBytes)
        var next = 0
        while true {
            let found: [StoredChunk]
            switch owner {
            case let .step(step):
                found = try chunks(PostgresQuery(unsafeSQL: """
                    SELECT \(Self.chunkColumns) FROM run_chunks c LEFT JOIN chunk_bodies b ON b.sha256 = c.sha256
                    WHERE c.run_id = \(runID) AND c.tensor_id = \(tensor.id) AND c.step = \(step) AND c.chunk_index >= \(next)
                    ORDER BY c.chunk_index LIMIT \(perQuery)
                    """), owner: owner, tensor: tensor)
            case let .snapshot(id):
                found = try chunks(PostgresQuery(unsafeSQL: """
                    SELECT \(Self.chunkColumns) FROM run_snapshot_chunks c LEFT JOIN chunk_bodies b ON b.sha256 = c.sha256
                    WHERE c.run_id = \(runID) AND c.snapshot_id = \(id) AND c.tensor_id = \(tensor.id) AND c.chunk_index >= \(next)
                    ORDER BY c.chunk_index LIMIT \(perQuery)
                    """), owner: owner, tensor: tensor)
            }
            for chunk in found { try body(chunk) }
            guard found.count == perQuery, let last = found.last else { return }
            next = last.header.index + 1
        }
    }

    func storedChunk(of tensor: TensorRecord, index: Int, step: Int) throws -> StoredChunk {
        let key = ChunkKey(tensor: tensor.id, index: index)
        if let chunk = ahead[key]?.removeValue(forKey: step) {
            aheadBytes -= chunk.payload.count
            return chunk
        }
        // This chunk at `step` and the steps after it, as many as the budget allows.
        let rawSize = max(1, layout.range(index, of: tensor.byteCount).count)
        // Small chunks only: a large one alone is worth its round trip, and fetching it ahead
        // would serialise what a replay overlaps (it fetches round k + 1 while round k decodes).
        let limit = max(1, min(64, Self.queryBytes / rawSize, (Self.prefetchBytes - aheadBytes) / rawSize))
        let found = try chunks(PostgresQuery(unsafeSQL: """
            SELECT c.step, \(Self.chunkColumns) FROM run_chunks c LEFT JOIN chunk_bodies b ON b.sha256 = c.sha256
            WHERE c.run_id = \(runID) AND c.tensor_id = \(tensor.id) AND c.chunk_index = \(index) AND c.step >= \(step)
            ORDER BY c.step LIMIT \(limit)
            """), owner: nil, tensor: tensor)
        guard let first = found.first, first.step == step else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' at step \(step): chunk \(index) is missing")
        }
        if found.count > 1 {
            for chunk in ahead[key]?.values ?? [:].values { aheadBytes -= chunk.payload.count }
            ahead[key] = Dictionary(found.dropFirst().map { ($0.step!, $0) }, uniquingKeysWith: { a, _ in a })
            aheadBytes += found.dropFirst().reduce(0) { $0 + $1.payload.count }
        }
        return first
    }

    func storedChunks(of tensor: TensorRecord, index: Int, atOrBefore step: Int, limit: Int) throws -> [StoredChunk] {
        try chunks(PostgresQuery(unsafeSQL: """
            SELECT c.step, \(Self.chunkColumns) FROM run_chunks c LEFT JOIN chunk_bodies b ON b.sha256 = c.sha256
            WHERE c.run_id = \(runID) AND c.tensor_id = \(tensor.id) AND c.chunk_index = \(index) AND c.step <= \(step)
            ORDER BY c.step DESC LIMIT \(limit)
            """), owner: nil, tensor: tensor)
    }

    func forEachChunkCodec(of tensor: TensorRecord, index: Int, atOrBefore step: Int,
                           _ body: (_ step: Int, _ codec: Codec?) throws -> Bool) throws {
        let rows = try connection.rows("""
            SELECT step, codec FROM run_chunks WHERE run_id = \(runID) AND tensor_id = \(tensor.id) AND chunk_index = \(index)
            AND step <= \(step) ORDER BY step DESC
            """, "read chunk codecs") { try $0.decode((Int, String).self) }
        for (at, codec) in rows {
            guard try body(try StoredStep.checked(at, "run_chunks"), Codec(rawValue: codec)) else { return }
        }
    }

    func chunkCount(of tensor: TensorRecord, step: Int) throws -> Int {
        try connection.row("""
            SELECT count(*)::BIGINT FROM run_chunks WHERE run_id = \(runID) AND step = \(step) AND tensor_id = \(tensor.id)
            """, "count chunks") { try $0.decode(Int.self) } ?? 0
    }

    func chunkCounts() throws -> [(step: Int, tensorID: Int64, count: Int)] {
        try connection.rows("""
            SELECT step, tensor_id, count(*)::BIGINT FROM run_chunks WHERE run_id = \(runID) GROUP BY step, tensor_id
            """, "count chunks") { row in
            let (step, tensor, count) = try row.decode((Int, Int64, Int).self)
            return (step: step, tensorID: tensor, count: count)
        }
    }
}
