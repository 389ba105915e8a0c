#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMALogStore

/// One metric key's history: its values at the steps that have it, in step order.
public struct MetricCurve: Sendable {
    public var key: String
    public var steps: [Int]
    public var values: [Double]

    public init(key: String, steps: [Int], values: [Double]) {
        self.key = key
        self.steps = steps
        self.values = values
    }
}

extension EMALog {
    /// The histories of `keys` (every key, in name order, when empty) over `from...to`, one read
    /// view for all; a key the log lacks throws, naming the keys it has.
    public func metricCurves(keys: [String], from: Int? = nil, to: Int? = nil) throws -> [MetricCurve] {
        try store.read { r in
            let all = try r.metricKeys()
            let names = keys.isEmpty ? all.keys.sorted() : keys
            for name in names where all[name] == nil { throw UnknownMetricKey(key: name, available: all.keys.sorted()) }
            return try names.map { name in
                let values = try r.metricValues(keyIDs: [all[name]!], steps: (from ?? 0)...(to ?? Int.max))
                return MetricCurve(key: name, steps: values.map(\.step), values: values.map(\.value))
            }
        }
    }
}

extension EMALog {
    /// Each log's metric keys; throws `UnknownMetricKey` for a key of `keys` that no log has,
    /// naming every key the logs have.
    @discardableResult
    public static func requireKeys(_ keys: [String], in logs: [EMALog]) throws -> [Set<String>] {
        let available = try logs.map { log in try log.store.read { try Set($0.metricKeys().keys) } }
        for key in keys where !available.contains(where: { $0.contains(key) }) {
            throw UnknownMetricKey(key: key, available: available.reduce(Set<String>()) { $0.union($1) }.sorted())
        }
        return available
    }

    /// The histories of `keys` in each of `logs`, for drawing them side by side: a key may be
    /// missing from some logs (that log draws nothing for it), not from all (`UnknownMetricKey`,
    /// naming every key the logs have). Empty `keys`: every key of each log.
    public static func metricCurves(_ logs: [EMALog], keys: [String], from: Int? = nil, to: Int? = nil) throws
        -> [[MetricCurve]]
    {
        let available = try requireKeys(keys, in: logs)
        return try zip(logs, available).map { log, have in
            let wanted = keys.filter(have.contains)
            return keys.isEmpty || !wanted.isEmpty ? try log.metricCurves(keys: wanted, from: from, to: to) : []
        }
    }
}

/// The smoothing of TensorBoard's slider: an exponential moving average with its start-up bias
/// removed (divided by 1 - w^n after n values), so the curve starts at the first value instead of
/// near 0. A value that is not finite passes through as it is and does not enter the average; a
/// constant history is returned as it is. `weight` 0 returns the values; 1 is refused by callers.
public enum Smoothing {
    public static func debiased(_ values: [Double], weight: Double) -> [Double] {
        guard weight > 0, !values.isEmpty else { return values }
        if values.allSatisfy({ $0 == values[0] }) { return values }
        var last = 0.0
        var count = 0.0
        return values.map { value in
            guard value.isFinite else { return value }
            last = last * weight + (1 - weight) * value
            count += 1
            let debias = weight == 1 ? 1 : 1 - pow(weight, count)
            return last / debias
        }
    }
}
