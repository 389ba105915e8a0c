import EMALogStore

/// What a push did.
public struct PushReport: Sendable, Equatable, Encodable {
    public var run = ""
    /// Steps written now (new ones, and ones the log replaced since the last push).
    public var steps = 0
    public var replacedSteps = 0
    /// Steps of the run deleted because the log was truncated before them (`emalog truncate`).
    public var removedSteps = 0
    public var snapshots = 0
    public var deletedSnapshots = 0
    /// Chunk bodies uploaded, and their stored bytes.
    public var bodies = 0
    public var bodyBytes = 0
    /// Stored bytes of chunks whose body the server had already (this run or another).
    public var sharedBytes = 0
    /// Bodies the server held damaged (not the bytes their sha256 names) that this push wrote again.
    public var repairedBodies = 0
    public var metricBlocks = 0
    public var metricValues = 0
    public var seconds = 0.0
    /// Whether the push changed nothing (the server held the whole log already).
    public var upToDate: Bool {
        steps == 0 && snapshots == 0 && deletedSnapshots == 0 && metricBlocks == 0 && repairedBodies == 0 && removedSteps == 0
            && !headerChanged
    }
    var headerChanged = false

    public init() {}

    /// Adds what the workers staged and committed.
    mutating func add(_ counts: StagedCounts) {
        steps += counts.steps
        snapshots += counts.snapshots
        bodies += counts.bodies
        bodyBytes += counts.bodyBytes
        sharedBytes += counts.sharedBytes
        repairedBodies += counts.repairedBodies
    }

    /// Its JSON (`push --format json`): these members, then `up_to_date`.
    enum CodingKeys: String, CodingKey {
        case run, steps
        case replacedSteps = "replaced_steps"
        case removedSteps = "removed_steps"
        case snapshots
        case deletedSnapshots = "deleted_snapshots"
        case bodies
        case bodyBytes = "body_bytes"
        case sharedBytes = "shared_bytes"
        case repairedBodies = "repaired_bodies"
        case metricBlocks = "metric_blocks"
        case metricValues = "metric_values"
        case seconds
    }
}
