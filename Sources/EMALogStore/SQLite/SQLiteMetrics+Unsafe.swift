import Foundation
import GRDB
import GRDBSQLite

extension SQLiteAccess {
    /// Metric keys by name.
    func metricKeys() throws -> [String: Int64] {
        var keys: [String: Int64] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT id, name FROM metric_keys") { keys[try row.decode(forColumn: "name")] = try row.decode(forColumn: "id") }
        return keys
    }

    /// Values of `keyIDs` with step in `range`, ordered by step then key.
    func metricValues(keyIDs: [Int64], steps range: ClosedRange<Int>) throws -> [MetricValue] {
        guard !keyIDs.isEmpty else { return [] }
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
    /// unless `replace`.
    func insertMetrics(_ values: [MetricValue], replace: Bool, keyName: (Int64) -> String) throws -> MetricsWriteResult {
        let insert = try db.cachedStatement(sql: "INSERT INTO metrics (step, key_id, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
        let select = try db.cachedStatement(sql: "SELECT value FROM metrics WHERE step = ? AND key_id = ?")
        let connection = db.sqliteConnection
        var result = MetricsWriteResult()
        func step(_ handle: SQLiteStatement?) throws -> Int32 {
            let code = sqlite3_step(handle)
            guard code == SQLITE_DONE || code == SQLITE_ROW else {
                let message = String(cString: sqlite3_errmsg(connection))
                sqlite3_reset(handle)
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
            }
            return code
        }
        for v in values {
            let h = insert.sqliteStatement
            sqlite3_bind_int64(h, 1, Int64(v.step))
            sqlite3_bind_int64(h, 2, v.keyID)
            if v.value.isNaN { sqlite3_bind_null(h, 3) } else { sqlite3_bind_double(h, 3, v.value) }
            _ = try step(h)
            sqlite3_reset(h)
            if sqlite3_changes(connection) == 1 { result.inserted += 1; continue }
            let s = select.sqliteStatement
            sqlite3_bind_int64(s, 1, Int64(v.step))
            sqlite3_bind_int64(s, 2, v.keyID)
            _ = try step(s)
            let stored = sqlite3_column_type(s, 0) == SQLITE_NULL ? Double.nan : sqlite3_column_double(s, 0)
            sqlite3_reset(s)
            if MetricValue.sameValue(stored, v.value) { result.unchanged += 1; continue }
            guard replace else { throw MetricConflict(step: v.step, key: keyName(v.keyID), stored: stored, new: v.value) }
            try db.execute(sql: "UPDATE metrics SET value = ? WHERE step = ? AND key_id = ?",
                           arguments: [v.value.isNaN ? nil : v.value, v.step, v.keyID])
            result.replaced += 1
        }
        return result
    }
}
