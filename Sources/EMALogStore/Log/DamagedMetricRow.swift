import EMALogFormats

/// A metric row that cannot be what an ingest wrote (found by an audit).
public struct DamagedMetricRow: Sendable, Equatable {
    public var step: Int
    public var keyID: Int64
    /// What is wrong with it.
    public var problem: String

    public init(step: Int, keyID: Int64, problem: String) {
        self.step = step
        self.keyID = keyID
        self.problem = problem
    }
}
