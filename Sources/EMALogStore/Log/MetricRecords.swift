/// A metric value.
public struct MetricValue: Sendable, Equatable {
    public var step: Int
    public var keyID: Int64
    public var value: Double

    public init(step: Int, keyID: Int64, value: Double) {
        self.step = step
        self.keyID = keyID
        self.value = value
    }

    public static func == (a: MetricValue, b: MetricValue) -> Bool {
        a.step == b.step && a.keyID == b.keyID && sameValue(a.value, b.value)
    }

    /// Equal as stored: bit-identical, both NaN (SQLite keeps no NaN, NULL stands for it), or both
    /// zero: a REAL column keeps an integral value as an integer, so -0.0 is stored as 0 and reads
    /// back as 0.0; telling the two apart would refuse a re-run of the same ingest forever.
    public static func sameValue(_ a: Double, _ b: Double) -> Bool {
        a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) || (a == 0 && b == 0)
    }
}

/// What a metrics write did.
public struct MetricsWriteResult: Sendable, Equatable {
    public var inserted = 0
    public var unchanged = 0
    public var replaced = 0
    /// Values that differ from a stored one, not stored (`MetricConflictPolicy.keepStored`).
    public var kept: [MetricConflict] = []
    public init() {}
}

/// What storing a metric value does when the log holds another value for its step and key.
public enum MetricConflictPolicy: Sendable, Equatable {
    /// Throw `MetricConflict` (nothing of the write commits).
    case refuse
    /// Overwrite the stored value.
    case replace
    /// Keep the stored value and report the new one in `MetricsWriteResult.kept`.
    case keepStored

    /// `.replace` when `replace`, else `.refuse`.
    public init(replace: Bool) { self = replace ? .replace : .refuse }
}
