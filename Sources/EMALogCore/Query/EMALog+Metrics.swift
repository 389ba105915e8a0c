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
}
