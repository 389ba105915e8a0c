import EMALogStore
import Foundation

/// Metrics as a wide table: one row per step, one column per key.
public struct MetricsTable: Sendable, Equatable {
    public var keys: [String]
    /// Rows by step; a nil cell is a step without that key.
    public var rows: [(step: Int, values: [Double?])]

    public init(keys: [String], rows: [(step: Int, values: [Double?])]) {
        self.keys = keys
        self.rows = rows
    }

    public static func == (a: MetricsTable, b: MetricsTable) -> Bool {
        a.keys == b.keys && a.rows.elementsEqual(b.rows) { x, y in
            x.step == y.step && x.values.elementsEqual(y.values) { u, v in
                switch (u, v) {
                case (nil, nil): true
                case let (u?, v?): u.bitPattern == v.bitPattern || (u.isNaN && v.isNaN)
                default: false
                }
            }
        }
    }
}

extension MetricsTable {
    /// The table as wide CSV: `step,<key>,...`, one row per step, an empty cell where a step lacks
    /// a key, values with enough digits to read back exactly (`nan`, `inf`, `-inf` otherwise).
    public var csv: String {
        var out = (["step"] + keys).map(Self.csvField).joined(separator: ",") + "\n"
        for row in rows {
            out += String(row.step) + row.values.map { "," + ($0.map(Self.number) ?? "") }.joined() + "\n"
        }
        return out
    }

    /// A value as the CSV writes it.
    public static func number(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        return "\(v)"
    }

    /// A CSV field, quoted when it holds a comma, quote, or line break.
    static func csvField(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }
}

extension EMALog {
    /// Values of `keys` (every key, in name order, when empty) for steps in `from...to`.
    public func metrics(keys: [String], from: Int? = nil, to: Int? = nil) throws -> MetricsTable {
        try store.read { r in
            let all = try r.metricKeys()
            let names = keys.isEmpty ? all.keys.sorted() : keys
            for name in names where all[name] == nil { throw UnknownMetricKey(key: name, available: all.keys.sorted()) }
            let ids = names.map { all[$0]! }
            let column = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0) })
            let values = try r.metricValues(keyIDs: ids, steps: (from ?? 0)...(to ?? Int.max))
            var rows: [(step: Int, values: [Double?])] = []
            for value in values {
                if rows.last?.step != value.step { rows.append((value.step, Array(repeating: nil, count: names.count))) }
                rows[rows.count - 1].values[column[value.keyID]!] = value.value
            }
            return MetricsTable(keys: names, rows: rows)
        }
    }

    /// Several logs side by side: one column `NAME:KEY` per log and key (keys in the order given,
    /// else every key any log has, by name; logs in the order given), a row for every step any of
    /// them has. A key no log has throws, naming the keys there are.
    public static func metrics(comparing logs: [(name: String, log: EMALog)], keys: [String], from: Int? = nil,
                               to: Int? = nil) throws -> MetricsTable {
        let held = try logs.map { entry in try entry.log.store.read { r in try r.metricKeys() } }
        let everyKey = Set(held.flatMap(\.keys)).sorted()
        for name in keys where !everyKey.contains(name) { throw UnknownMetricKey(key: name, available: everyKey) }
        let names = keys.isEmpty ? everyKey : keys
        var columns: [String] = []
        var columnKeys: [Int] = []
        var byStep: [Int: [Double?]] = [:]
        var tables: [(offset: Int, table: MetricsTable)] = []
        for (entry, keys) in zip(logs, held) {
            let mine = names.filter { keys[$0] != nil }
            guard !mine.isEmpty else { continue }
            tables.append((columns.count, try entry.log.metrics(keys: mine, from: from, to: to)))
            columns += mine.map { "\(entry.name):\($0)" }
            columnKeys += mine.map { names.firstIndex(of: $0)! }
        }
        for (offset, table) in tables {
            for row in table.rows {
                var cells = byStep[row.step] ?? Array(repeating: nil, count: columns.count)
                for (i, value) in row.values.enumerated() { cells[offset + i] = value }
                byStep[row.step] = cells
            }
        }
        // Column order: by key, then log.
        let order = columns.indices.sorted { (columnKeys[$0], $0) < (columnKeys[$1], $1) }
        let rows = byStep.sorted { $0.key < $1.key }.map { step, cells in (step: step, values: order.map { cells[$0] }) }
        return MetricsTable(keys: order.map { columns[$0] }, rows: rows)
    }
}
