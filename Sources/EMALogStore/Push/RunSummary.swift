/// A run of a team store as `emalog runs` lists it (its JSON: these fields, in this order).
public struct RunSummary: Sendable, Equatable, Encodable {
    public var name: String
    public var logID: String
    public var pushedAt: String
    public var steps: Int
    public var lastStep: Int?
    public var tensors: Int
    public var tracks: Int
    /// Stored bytes of its chunks, snapshots and metric blocks (bodies shared with other runs
    /// are counted in each).
    public var storedBytes: Int
    public var metricValues: Int

    enum CodingKeys: String, CodingKey {
        case name
        case logID = "log_id"
        case pushedAt = "pushed_at"
        case steps
        case lastStep = "last_step"
        case tensors, tracks
        case storedBytes = "stored_bytes"
        case metricValues = "metric_values"
    }

    public init(name: String, logID: String, pushedAt: String, steps: Int, lastStep: Int?, tensors: Int, tracks: Int,
                storedBytes: Int, metricValues: Int) {
        self.name = name
        self.logID = logID
        self.pushedAt = pushedAt
        self.steps = steps
        self.lastStep = lastStep
        self.tensors = tensors
        self.tracks = tracks
        self.storedBytes = storedBytes
        self.metricValues = metricValues
    }
}
