import EMALogStore
import EMALogFormats
import Foundation
import GRDB

/// A connection inside one of `SQLiteLogStore`'s transactions: the reads of `LogReader`, the same
/// for a read view and a write transaction.
protocol SQLiteAccess: LogReader {
    var db: Database { get }
    /// Whether `steps` has the `raw` column (schema 6); without it every step is raw.
    var stepsHaveRaw: Bool { get }
}

/// `LogReader` over SQLite, valid only inside `SQLiteLogStore.read {}`.
struct SQLiteReader: SQLiteAccess {
    let db: Database
    let path: String
    let layout: ChunkLayout
    let stepsHaveRaw: Bool
}

extension SQLiteAccess {
    /// Whether the log has table `name` (a later schema's table, missing from an older log read as it is).
    func hasTable(_ name: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?)", arguments: [name]) ?? false
    }

    /// The log's identity (a UUID made when it was created).
    func logID() throws -> String {
        try String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'log_id'") ?? ""
    }

    /// The log's tensor set, in data order; empty before the first step.
    ///
    /// Every record is validated before anything is sized from it: a known dtype, a shape of
    /// dimensions >= 0 whose byte count fits, equal to the stored element count, and the first
    /// step's chunks holding exactly that many bytes (a hand-edited shape such as [1e12] would
    /// otherwise size a shadow of terabytes).
    func tensors() throws -> [TensorRecord] {
        // Columns by index, through a cursor: by name, GRDB looks each up per row (a log of 100k
        // tensors spent 0.4 s here).
        var records: [TensorRecord] = []
        let rows = try Row.fetchCursor(db, sql: "SELECT id, name, dtype, shape, element_count, position FROM tensors ORDER BY position")
        while let row = try rows.next() {
            let shapeText: String = try row.decode(atIndex: 3)
            records.append(try TensorRecord(validating: try row.decode(atIndex: 0), name: try row.decode(atIndex: 1),
                                            dtype: try row.decode(atIndex: 2), shape: StoredText.shape(shapeText), shapeText: shapeText,
                                            elementCount: try row.decode(atIndex: 4), position: try row.decode(atIndex: 5)))
        }
        try checkFirstStepHolds(records)
        return records
    }

    /// The first step's chunks must hold each tensor's bytes (their raw sizes are checked again,
    /// chunk by chunk, when read).
    private func checkFirstStepHolds(_ tensors: [TensorRecord]) throws {
        guard !tensors.isEmpty, let first = try firstStep() else { return }
        var held: [Int64: (chunks: Int, bytes: Int)] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT tensor_id, count(*), sum(raw_size) FROM chunks WHERE step = ? GROUP BY tensor_id",
                                    arguments: [first]) {
            held[try row.decode(atIndex: 0)] = (try row.decode(atIndex: 1), try row.decode(atIndex: 2))
        }
        try TensorRecord.checkFirstStep(first, holds: tensors, held: held, layout: layout, store: "log")
    }

    /// Every stored step number, ascending.
    func stepNumbers() throws -> [Int] {
        let steps = try Int.fetchAll(db, sql: "SELECT step FROM steps ORDER BY step")
        return try StoredStep.checked(steps, "steps")
    }

    func stepNumbers(in range: ClosedRange<Int>) throws -> [Int] {
        let steps = try Int.fetchAll(db, sql: "SELECT step FROM steps WHERE step BETWEEN ? AND ? ORDER BY step",
                                     arguments: [range.lowerBound, range.upperBound])
        return try StoredStep.checked(steps, "steps")
    }

    /// The latest stored step.
    func lastStep() throws -> Int? {
        try StoredStep.checked(Int.fetchOne(db, sql: "SELECT max(step) FROM steps"), "steps")
    }

    /// The first stored step.
    func firstStep() throws -> Int? {
        try StoredStep.checked(Int.fetchOne(db, sql: "SELECT min(step) FROM steps"), "steps")
    }

    /// The closest stored steps below and above `step`.
    func neighbours(of step: Int) throws -> (below: Int?, above: Int?) {
        (try StoredStep.checked(Int.fetchOne(db, sql: "SELECT max(step) FROM steps WHERE step < ?", arguments: [step]), "steps"),
         try StoredStep.checked(Int.fetchOne(db, sql: "SELECT min(step) FROM steps WHERE step > ?", arguments: [step]), "steps"))
    }

    /// The stored steps within `range` whose raw weights are kept, ascending.
    func rawStepNumbers(in range: ClosedRange<Int>) throws -> [Int] {
        guard stepsHaveRaw else { return try stepNumbers(in: range) }
        let steps = try Int.fetchAll(db, sql: "SELECT step FROM steps WHERE step BETWEEN ? AND ? AND raw = 1 ORDER BY step",
                                     arguments: [range.lowerBound, range.upperBound])
        return try StoredStep.checked(steps, "steps")
    }

    /// The closest steps below and above `step` whose raw weights are kept.
    func rawNeighbours(of step: Int) throws -> (below: Int?, above: Int?) {
        guard stepsHaveRaw else { return try neighbours(of: step) }
        return (try StoredStep.checked(Int.fetchOne(db, sql: "SELECT max(step) FROM steps WHERE step < ? AND raw = 1", arguments: [step]), "steps"),
                try StoredStep.checked(Int.fetchOne(db, sql: "SELECT min(step) FROM steps WHERE step > ? AND raw = 1", arguments: [step]), "steps"))
    }

    /// The audit record of `step`, if stored; its metadata and hash are validated.
    func stepRecord(_ step: Int) throws -> StepRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM steps WHERE step = ?", arguments: [step]).map(Self.stepRecord)
    }

    /// The audit records of the stored steps within `range`, ascending.
    func stepRecords(in range: ClosedRange<Int>) throws -> [StepRecord] {
        try Row.fetchAll(db, sql: "SELECT * FROM steps WHERE step BETWEEN ? AND ? ORDER BY step",
                         arguments: [range.lowerBound, range.upperBound]).map(Self.stepRecord)
    }

    /// A `steps` row, validated.
    private static func stepRecord(_ row: Row) throws -> StepRecord {
        let raw: Int = row.hasColumn("raw") ? try row.decode(forColumn: "raw") : 1
        return try StepRecord(validating: try row.decode(forColumn: "step"), in: "steps", ingestID: try row.decode(forColumn: "ingest_id"),
                              sourcePath: try row.decode(forColumn: "source_path"), sourceSize: try row.decode(forColumn: "source_size"),
                              hashText: try row.decode(forColumn: "source_xxh64"), metadataText: try row.decode(forColumn: "metadata"),
                              ingestedAt: try row.decode(forColumn: "ingested_at"), raw: raw != 0)
    }

    /// Stored tracks, by id.
    func tracks() throws -> [TrackRecord] {
        try Row.fetchAll(db, sql: "SELECT id, name, spec FROM tracks ORDER BY id").map {
            TrackRecord(id: try $0.decode(forColumn: "id"), name: try $0.decode(forColumn: "name"), spec: try $0.decode(forColumn: "spec"))
        }
    }

    /// A track's snapshots, ascending by step.
    func snapshots(track: Int64) throws -> [SnapshotRecord] {
        try Row.fetchAll(db, sql: "SELECT id, track_id, step FROM snapshots WHERE track_id = ? ORDER BY step",
                         arguments: [track]).map { try Self.snapshot($0) }
    }

    func owedSnapshots() throws -> [(track: Int64, step: Int)] {
        guard let text = try String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'owed_snapshots'") else { return [] }
        return try OwedSnapshot.parse(text).map { ($0.track, $0.step) }
    }

    /// The named steps (none in a log older than schema 5, which has no `pins` table).
    func pins() throws -> [PinRecord] {
        guard try hasTable("pins") else { return [] }
        return try Row.fetchAll(db, sql: "SELECT name, step, pinned_at FROM pins ORDER BY name").map {
            try PinRecord(validating: try $0.decode(atIndex: 0), step: try $0.decode(atIndex: 1), pinnedAt: try $0.decode(atIndex: 2),
                          in: "pins")
        }
    }

    /// The track's latest snapshot at or before `step`.
    func snapshot(track: Int64, atOrBefore step: Int) throws -> SnapshotRecord? {
        try Row.fetchOne(db, sql: """
            SELECT id, track_id, step FROM snapshots WHERE track_id = ? AND step <= ? ORDER BY step DESC LIMIT 1
            """, arguments: [track, step]).map { try Self.snapshot($0) }
    }

    static func snapshot(_ row: Row) throws -> SnapshotRecord {
        SnapshotRecord(id: try row.decode(forColumn: "id"), trackID: try row.decode(forColumn: "track_id"), step: try StoredStep.checked(try row.decode(forColumn: "step"), "snapshots")!)
    }

    /// Totals for `info`.
    ///
    /// One pass over the chunk rows, aggregated here: SQLite's GROUP BY would sort the rows
    /// through a temporary b-tree holding the blobs themselves (2.6 GB of temp writes on a large log);
    /// `length(data)` alone reads a blob's size from its row header, not its pages.
    func summary() throws -> StoreSummary {
        let steps = try Row.fetchOne(db, sql: "SELECT count(*), min(step), max(step) FROM steps")!
        let snaps = try Row.fetchOne(db, sql: "SELECT (SELECT count(*) FROM snapshots), coalesce(sum(length(data)), 0) FROM snapshot_chunks")!
        let totals = try hasTotals()
        let blockValues = totals ? "(SELECT coalesce(sum(value_count), 0) FROM metric_block_totals)"
            : try hasMetricBlocks() ? "(SELECT coalesce(sum(count), 0) FROM metric_blocks)" : "0"
        let metrics = try Row.fetchOne(db, sql: "SELECT (SELECT count(*) FROM metric_keys), (SELECT count(*) FROM metrics) + \(blockValues)")!
        let ingests = try Int.fetchOne(db, sql: "SELECT count(*) FROM ingests") ?? 0
        let codecs = totals ? try recordedChunkTotals() : try countedChunkTotals()
        return StoreSummary(
            stepCount: try steps.decode(atIndex: 0), firstStep: try StoredStep.checked(steps.decode(atIndex: 1), "steps"),
            lastStep: try StoredStep.checked(steps.decode(atIndex: 2), "steps"), chunkCount: codecs.reduce(0) { $0 &+ $1.chunks },
            chunkBytes: codecs.reduce(0) { $0 &+ $1.storedBytes },
            snapshotCount: try snaps.decode(atIndex: 0), snapshotBytes: try snaps.decode(atIndex: 1),
            metricKeyCount: try metrics.decode(atIndex: 0), metricValueCount: try metrics.decode(atIndex: 1), ingestCount: ingests, codecs: codecs)
    }

    typealias CodecTotal = (codec: String, chunks: Int, storedBytes: Int, rawBytes: Int)

    /// Whether the log keeps running totals (schema 4 on).
    func hasTotals() throws -> Bool {
        try Int.fetchOne(db, sql: """
            SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('chunk_totals', 'metric_block_totals')
            """) == 2
    }

    /// The raw-step chunks per codec as the triggers recorded them (codecs without chunks left out).
    private func recordedChunkTotals() throws -> [CodecTotal] {
        try Row.fetchAll(db, sql: "SELECT codec, chunks, stored_bytes, raw_bytes FROM chunk_totals WHERE chunks != 0").map {
            (try $0.decode(atIndex: 0), try $0.decode(atIndex: 1), try $0.decode(atIndex: 2), try $0.decode(atIndex: 3))
        }
    }

    /// The raw-step chunks per codec, summed from every chunk row.
    private func countedChunkTotals() throws -> [CodecTotal] {
        var byCodec: [String: (chunks: Int, storedBytes: Int, rawBytes: Int)] = [:]
        let rows = try Row.fetchCursor(db, sql: "SELECT codec, length(data), raw_size FROM chunks")
        while let row = try rows.next() {
            let codec: String = try row.decode(atIndex: 0)
            let stored: Int = try row.decode(atIndex: 1), raw: Int = try row.decode(atIndex: 2)
            byCodec[codec, default: (0, 0, 0)].chunks += 1
            byCodec[codec]!.storedBytes &+= stored
            byCodec[codec]!.rawBytes &+= raw
        }
        return byCodec.map { ($0.key, $0.value.chunks, $0.value.storedBytes, $0.value.rawBytes) }
    }

    func totalsProblems() throws -> [String] {
        guard try hasTotals() else { return [] }
        var problems: [String] = []
        let recorded = Dictionary(try recordedChunkTotals().map { ($0.codec, $0) }, uniquingKeysWith: { a, _ in a })
        let counted = Dictionary(try countedChunkTotals().map { ($0.codec, $0) }, uniquingKeysWith: { a, _ in a })
        for codec in Set(recorded.keys).union(counted.keys).sorted() {
            let r = recorded[codec] ?? (codec, 0, 0, 0), c = counted[codec] ?? (codec, 0, 0, 0)
            if (r.chunks, r.storedBytes, r.rawBytes) != (c.chunks, c.storedBytes, c.rawBytes) {
                problems.append("chunk_totals for codec '\(codec.prefix(40))' record \(r.chunks) chunks, \(r.storedBytes) stored "
                    + "and \(r.rawBytes) raw bytes; the chunks hold \(c.chunks), \(c.storedBytes) and \(c.rawBytes)")
            }
        }
        let rows = try Row.fetchAll(db, sql: "SELECT blocks, value_count FROM metric_block_totals")
        let blocks = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(count), 0) FROM metric_blocks")!
        let held: (Int, Int) = (try blocks.decode(atIndex: 0), try blocks.decode(atIndex: 1))
        let noted: (Int, Int)? = try rows.count == 1 ? (rows[0].decode(atIndex: 0), rows[0].decode(atIndex: 1)) : nil
        if noted == nil || noted! != held {
            let what = noted.map { "record \($0.0) blocks of \($0.1) values" } ?? "hold \(rows.count) rows instead of one"
            problems.append("metric_block_totals \(what); the blocks are \(held.0), of \(held.1) values")
        }
        return problems
    }

    /// Applied migrations, in order.
    func appliedMigrations() throws -> [String] {
        try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
    }

    /// The audit trail, by id; each command line validated as a JSON array of strings.
    func ingests() throws -> [IngestRecord] {
        try Row.fetchAll(db, sql: "SELECT id, started_at, emalog_version, arguments, configuration FROM ingests ORDER BY id").map { row in
            try IngestRecord(validating: try row.decode(atIndex: 0), startedAt: try row.decode(atIndex: 1),
                             emalogVersion: try row.decode(atIndex: 2), argumentsText: try row.decode(atIndex: 3),
                             configuration: try row.decode(atIndex: 4))
        }
    }

    /// Metric rows whose key id names no key, or whose value is not REAL (NULL stands for NaN), and
    /// metric blocks of no key or that do not decode (the block's first step names them).
    func damagedMetricRows() throws -> [DamagedMetricRow] {
        var damaged: [DamagedMetricRow] = []
        if try hasMetricBlocks() {
            // Key by key in step order, so a block that overlaps the one before is seen.
            let rows = try Row.fetchCursor(db, sql: """
                SELECT key_id, first_step, last_step, count, data, key_id IN (SELECT id FROM metric_keys) FROM metric_blocks
                ORDER BY key_id, first_step
                """)
            // The furthest step the key's blocks so far reach (a block may lie inside an earlier one).
            var reach: (key: Int64, last: Int)?
            while let row = try rows.next() {
                let key: Int64 = try row.decode(atIndex: 0), first: Int = try row.decode(atIndex: 1), last: Int = try row.decode(atIndex: 2)
                let reached = reach?.key == key ? reach?.last : nil
                reach = (key, max(last, reached ?? last))
                guard try row.decode(Bool.self, atIndex: 5) else {
                    damaged.append(DamagedMetricRow(step: first, keyID: key, problem: "its block's key id names no metric key"))
                    continue
                }
                if let reached, first <= reached {
                    damaged.append(DamagedMetricRow(step: first, keyID: key, problem: "its block overlaps the one before, "
                        + "which reaches step \(reached)"))
                }
                do {
                    _ = try MetricBlock(keyID: key, row: row, from: 1)
                } catch {
                    damaged.append(DamagedMetricRow(step: first, keyID: key, problem: "\(error)"))
                }
            }
            // A step a schema-1/2 row holds must not be in a block of its key too.
            let twice = try Row.fetchCursor(db, sql: """
                SELECT m.step, m.key_id, b.first_step, b.last_step, b.count, b.data FROM metrics m JOIN metric_blocks b
                ON b.key_id = m.key_id AND b.first_step <= m.step AND b.last_step >= m.step ORDER BY m.step, m.key_id
                """)
            while let row = try twice.next() {
                let step: Int = try row.decode(atIndex: 0), key: Int64 = try row.decode(atIndex: 1)
                // A block that does not decode is named above.
                if (try? MetricBlock(keyID: key, row: row, from: 2))?.index(of: step).found == true { damaged.append(DamagedMetricRow(step: step, keyID: key, problem: "it is stored both as a row and in a block")) }
            }
            damaged.sort { ($0.step, $0.keyID) < ($1.step, $1.keyID) }
        }
        return damaged + (try Row.fetchAll(db, sql: """
            SELECT step, key_id, typeof(value), key_id IN (SELECT id FROM metric_keys) FROM metrics
            WHERE key_id NOT IN (SELECT id FROM metric_keys) OR typeof(value) NOT IN ('real', 'null') ORDER BY step, key_id
            """).map { row in
            let known: Bool = try row.decode(atIndex: 3)
            let type: String = try row.decode(atIndex: 2)
            return DamagedMetricRow(step: try row.decode(atIndex: 0), keyID: try row.decode(atIndex: 1),
                                    problem: known ? "its value is \(type.prefix(20)), not a number" : "its key id names no metric key")
        })
    }

    /// SQLite's `PRAGMA integrity_check` lines ("ok" when sound).
    func integrityCheck() throws -> [String] {
        try String.fetchAll(db, sql: "PRAGMA integrity_check")
    }
}
