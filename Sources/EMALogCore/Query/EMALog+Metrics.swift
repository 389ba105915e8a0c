import EMALogStore

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
}
