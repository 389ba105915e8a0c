/// What a truncation removed (`LogWriter.removeSteps(after:)`).
public struct RemovedSteps: Sendable, Equatable, Encodable {
    public var steps = 0
    public var snapshots = 0
    public var metricValues = 0
    /// Stored bytes of the raw-step chunks removed.
    public var chunkBytes = 0

    enum CodingKeys: String, CodingKey {
        case steps, snapshots
        case metricValues = "metric_values"
        case chunkBytes = "chunk_bytes"
    }

    public init(steps: Int = 0, snapshots: Int = 0, metricValues: Int = 0, chunkBytes: Int = 0) {
        self.steps = steps
        self.snapshots = snapshots
        self.metricValues = metricValues
        self.chunkBytes = chunkBytes
    }
}
