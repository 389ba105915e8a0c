import EMALogStore
import Foundation
import GRDB
import GRDBSQLite

extension MetricBlock {
    /// The block in `row`'s columns `first`, `first + 1`, …: first_step, last_step, count, data.
    init(keyID: Int64, row: Row, from first: Int) throws {
        try self.init(keyID: keyID, firstStep: row.decode(atIndex: first), lastStep: row.decode(atIndex: first + 1),
                      count: row.decode(atIndex: first + 2), data: [UInt8](row.decode(Data.self, atIndex: first + 3)))
    }
}

extension SQLiteAccess {
    /// Metric keys by name.
    func metricKeys() throws -> [String: Int64] {
        var keys: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, name FROM metric_keys") { keys[try row.decode(forColumn: "name")] = try row.decode(forColumn: "id") }
        return keys
    }

    /// Values of `keyIDs` with step in `range`, ordered by step then key: each key's blocks that
    /// overlap the range (found through the (key, first step) key, so other keys and steps are never
    /// read), then the rows schemas 1-2 wrote.
    func metricValues(keyIDs: [Int64], steps range: ClosedRange<Int>) throws -> [MetricValue] {
        guard !keyIDs.isEmpty else { return [] }
        var out: [MetricValue] = []
        if try hasMetricBlocks() {
            let statement = try db.cachedStatement(sql: """
                SELECT first_step, last_step, count, data FROM metric_blocks
                WHERE key_id = ?1 AND first_step >= coalesce((SELECT max(first_step) FROM metric_blocks
                                                              WHERE key_id = ?1 AND first_step <= ?2), -1)
                  AND first_step <= ?3
                ORDER BY first_step
                """)
            for key in keyIDs {
                statement.arguments = [key, range.lowerBound, range.upperBound]
                let rows = try Row.fetchCursor(statement)
                var walk = MetricBlock.Walk(keyID: key, steps: range)
                while let row = try rows.next() { try walk.add(try MetricBlock(keyID: key, row: row, from: 0), to: &out) }
            }
        }
        out += try legacyMetricValues(keyIDs: keyIDs, steps: range)
        out.sort { $0.step != $1.step ? $0.step < $1.step : $0.keyID < $1.keyID }
        // Each (step, key) is stored once: a row and a block that both hold one is damage.
        if let twice = zip(out, out.dropFirst()).first(where: { $0.step == $1.step && $0.keyID == $1.keyID })?.0 {
            throw StoreError.inconsistent("step \(twice.step) of metric key id \(twice.keyID) is stored twice (a row and a block)")
        }
        return out
    }

    /// Whether the log has schema 3's `metric_blocks` (a schema-1 or -2 log is read as it is).
    func hasMetricBlocks() throws -> Bool {
        try hasTable("metric_blocks")
    }

    /// The rows of `metrics` (schemas 1-2: one row per value).
    private func legacyMetricValues(keyIDs: [Int64], steps range: ClosedRange<Int>) throws -> [MetricValue] {
        let list = keyIDs.map(String.init).joined(separator: ",")
        let statement = try db.makeStatement(sql: """
            SELECT step, key_id, value FROM metrics WHERE step BETWEEN ? AND ? AND key_id IN (\(list)) ORDER BY step, key_id
            """)
        let handle = statement.sqliteStatement
        sqlite3_bind_int64(handle, 1, Int64(range.lowerBound))
        sqlite3_bind_int64(handle, 2, Int64(range.upperBound))
        var out: [MetricValue] = []
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
            let value = sqlite3_column_type(handle, 2) == SQLITE_NULL ? Double.nan : sqlite3_column_double(handle, 2)
            out.append(MetricValue(step: Int(sqlite3_column_int64(handle, 0)), keyID: sqlite3_column_int64(handle, 1), value: value))
        }
        sqlite3_reset(handle)
        return out
    }
}

extension SQLiteWriter {
    /// Ids of `names`, adding the keys not yet stored.
    func metricKeyIDs(for names: some Sequence<String>) throws -> [String: Int64] {
        var keys = try metricKeys()
        for name in names where keys[name] == nil {
            try db.execute(sql: "INSERT INTO metric_keys (name) VALUES (?)", arguments: [name])
            keys[name] = db.lastInsertedRowID
        }
        return keys
    }

    /// Stores values; the same value again is a no-op, a different one throws `MetricConflict`
    /// unless `replace`. Each key's values go into its blocks in step order: appended to its last
    /// block (a new one each `MetricBlock.capacity` values), or merged into the block that holds
    /// their steps (split in two past twice the capacity); one row written per block touched.
    /// A value a schema-1/2 ingest stored as a row stays there.
    func insertMetrics(_ values: [MetricValue], onConflict: MetricConflictPolicy, keyName: (Int64) -> String) throws
        -> MetricsWriteResult {
        var result = MetricsWriteResult()
        let legacy = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM metrics)") ?? false
        var order: [Int64] = []
        var groups: [Int64: [(step: Int, value: Double)]] = [:]
        for v in values {
            if groups[v.keyID] == nil { order.append(v.keyID) }
            groups[v.keyID, default: []].append((v.step, v.value))
        }
        for key in order {
            var points = groups[key]!
            if !zip(points, points.dropFirst()).allSatisfy({ $0.step <= $1.step }) {
                // Stable: a step given twice keeps its arrival order (with replace, the later wins).
                points = points.enumerated().sorted { ($0.element.step, $0.offset) < ($1.element.step, $1.offset) }.map(\.element)
            }
            var current: (block: MetricBlock, lower: Int, upper: Int)?
            for (step, value) in points {
                if legacy, try legacyMetric(step: step, key: key, value: value, onConflict: onConflict, keyName: keyName, &result) {
                    continue
                }
                if let c = current, c.lower <= step, step < c.upper {} else {
                    if let c = current { try save(c.block) }
                    current = try metricBlock(key: key, holding: step)
                }
                // An append past a full block starts the next one.
                if current!.block.count >= MetricBlock.capacity, step > current!.block.steps.last! {
                    try save(current!.block)
                    current = (MetricBlock(keyID: key), step, current!.upper)
                }
                let (position, found) = current!.block.index(of: step)
                if found {
                    let stored = current!.block.values[position]
                    if MetricValue.sameValue(stored, value) { result.unchanged += 1; continue }
                    let conflict = MetricConflict(step: step, key: keyName(key), stored: stored, new: value)
                    switch onConflict {
                    case .refuse: throw conflict
                    case .keepStored: result.kept.append(conflict); continue
                    case .replace: break
                    }
                    current!.block.values[position] = value
                    result.replaced += 1
                } else {
                    current!.block.steps.insert(step, at: position)
                    current!.block.values.insert(value, at: position)
                    result.inserted += 1
                }
                current!.block.dirty = true
                if current!.block.count > 2 * MetricBlock.capacity {
                    // Split: the first half keeps the row, the second becomes a block of its own.
                    let half = current!.block.count / 2
                    var second = MetricBlock(keyID: key)
                    second.steps = Array(current!.block.steps[half...])
                    second.values = Array(current!.block.values[half...])
                    second.dirty = true
                    current!.block.steps.removeSubrange(half...)
                    current!.block.values.removeSubrange(half...)
                    try save(current!.block)
                    current = (second, second.steps[0], current!.upper)
                }
            }
            if let c = current { try save(c.block) }
        }
        return result
    }

    /// The block of `key` whose steps `step` falls among: the one with the greatest first step at
    /// or below it (else the key's first block, which then reaches down to it; else a new block),
    /// and the range of steps it stands for, up to the next block's first step.
    private func metricBlock(key: Int64, holding step: Int) throws -> (block: MetricBlock, lower: Int, upper: Int) {
        let below = try Row.fetchOne(db.cachedStatement(sql: """
            SELECT first_step, last_step, count, data FROM metric_blocks WHERE key_id = ? AND first_step <= ?
            ORDER BY first_step DESC LIMIT 1
            """), arguments: [key, step])
        let row = try below ?? Row.fetchOne(db.cachedStatement(sql: """
            SELECT first_step, last_step, count, data FROM metric_blocks WHERE key_id = ? ORDER BY first_step LIMIT 1
            """), arguments: [key])
        guard let row else { return (MetricBlock(keyID: key), Int.min, Int.max) }
        let block = try MetricBlock(keyID: key, row: row, from: 0)
        let next = try Int.fetchOne(db.cachedStatement(sql: "SELECT min(first_step) FROM metric_blocks WHERE key_id = ? AND first_step > ?"),
                                    arguments: [key, block.steps[0]])
        return (block, below == nil ? Int.min : block.steps[0], next ?? Int.max)
    }

    /// Removes the metric values of steps after `step` (rows, whole blocks, and the tail of the
    /// block that holds `step`); returns how many.
    func removeMetrics(after step: Int) throws -> Int {
        var removed = try Int.fetchOne(db, sql: "SELECT count(*) FROM metrics WHERE step > ?", arguments: [step]) ?? 0
        try db.execute(sql: "DELETE FROM metrics WHERE step > ?", arguments: [step])
        guard try hasMetricBlocks() else { return removed }
        removed += try Int.fetchOne(db, sql: "SELECT coalesce(sum(count), 0) FROM metric_blocks WHERE first_step > ?",
                                    arguments: [step]) ?? 0
        try db.execute(sql: "DELETE FROM metric_blocks WHERE first_step > ?", arguments: [step])
        let straddling = try Row.fetchAll(db, sql: """
            SELECT key_id, first_step, last_step, count, data FROM metric_blocks WHERE first_step <= ? AND last_step > ?
            """, arguments: [step, step])
        for row in straddling {
            var block = try MetricBlock(keyID: try row.decode(atIndex: 0), row: row, from: 1)
            let kept = block.steps.prefix { $0 <= step }.count
            removed += block.count - kept
            block.steps.removeSubrange(kept...)
            block.values.removeSubrange(kept...)
            block.dirty = true
            try save(block)  // keeps at least its first value: its first step is at or below `step`
        }
        return removed
    }

    /// Writes a changed block as its row (moving the row when its first step changed).
    private func save(_ block: MetricBlock) throws {
        guard block.dirty, let first = block.steps.first, let last = block.steps.last else { return }
        if let stored = block.storedFirstStep, stored != first {
            try db.cachedStatement(sql: "DELETE FROM metric_blocks WHERE key_id = ? AND first_step = ?")
                .execute(arguments: [block.keyID, stored])
        }
        // An upsert, not INSERT OR REPLACE: a replaced row fires no delete trigger, so the running
        // totals (schema 4) would count it twice. Cached: each preparation compiles the triggers too.
        try db.cachedStatement(sql: """
            INSERT INTO metric_blocks (key_id, first_step, last_step, count, data) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT (key_id, first_step) DO UPDATE SET last_step = excluded.last_step, count = excluded.count, data = excluded.data
            """).execute(arguments: [block.keyID, first, last, block.count, Data(block.encoded())])
    }

    /// A value at (step, key) that a schema-1/2 ingest stored as a row: compared, or replaced, there.
    /// False when there is none.
    private func legacyMetric(step: Int, key: Int64, value: Double, onConflict: MetricConflictPolicy, keyName: (Int64) -> String,
                              _ result: inout MetricsWriteResult) throws -> Bool {
        guard let row = try Row.fetchOne(db, sql: "SELECT value FROM metrics WHERE step = ? AND key_id = ?", arguments: [step, key]) else {
            return false
        }
        let stored: Double = (try row.decode(atIndex: 0) as Double?) ?? .nan
        if MetricValue.sameValue(stored, value) { result.unchanged += 1; return true }
        let conflict = MetricConflict(step: step, key: keyName(key), stored: stored, new: value)
        switch onConflict {
        case .refuse: throw conflict
        case .keepStored: result.kept.append(conflict); return true
        case .replace: break
        }
        try db.execute(sql: "UPDATE metrics SET value = ? WHERE step = ? AND key_id = ?", arguments: [value.isNaN ? nil : value, step, key])
        result.replaced += 1
        return true
    }
}
