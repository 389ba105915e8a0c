import EMALogFormats

/// What a local log holds at the start of a push, read in one view: the push plans against it
/// and every backend writes from it.
public struct PushPlan: Sendable {
    public var logID: String
    public var createdAt: String
    public var tensors: [TensorRecord]
    public var ingests: [IngestRecord]
    public var tracks: [TrackRecord]
    public var steps: [StepRecord]
    public var snapshots: [SnapshotRecord]
    public var metricKeys: [String: Int64]
    public var pins: [PinRecord]

    public init(_ r: any LogReader) throws {
        logID = try r.logID()
        tensors = try r.tensors()
        ingests = try r.ingests()
        createdAt = ingests.first?.startedAt ?? ""
        tracks = try r.tracks()
        steps = try r.stepRecords(in: 0...StepNumber.largest)
        snapshots = try tracks.flatMap { try r.snapshots(track: $0.id) }
        metricKeys = try r.metricKeys()
        pins = try r.pins()
        truncatedAfter = ingests.last(where: { $0.truncatedAfter != nil })?.truncatedAfter
    }

    /// Where the log's latest truncation (`emalog truncate`) ended it, if it has one.
    public var truncatedAfter: Int?

    /// The steps and snapshots to write, in step order, and the snapshots on the server to delete first.
    public struct Work: Sendable {
        public var items: [PushItem]
        public var replaced: [Int]
        public var staleSnapshots: [Int64]
        /// The run's steps after this one go first: the log was truncated there since it was pushed.
        public var removeAfter: Int?
    }

    /// Compares the log with the run on the server. A step whose record differs was replaced in
    /// the log (`--replace`): it is written again, and so are the next `ResidualChain.depth`
    /// steps with raw weights (their residuals were re-encoded without it) and every snapshot from
    /// it on (their ids may have been reused for new content). A step whose raw weights the log
    /// left out since (retention) is written again without them, and so are the next
    /// `ResidualChain.depth` steps with raw weights; its snapshots stay.
    public func work(against remote: RunState) throws -> Work {
        var replaced: [Int] = []
        var rewrite = Set<Int>()
        for (position, record) in steps.enumerated() {
            guard let stored = remote.steps[record.step] else { continue }
            let key = StepKey(record)
            guard stored != key else { continue }
            var thinned = stored
            thinned.raw = false
            if thinned == key {
                rewrite.insert(record.step)
            } else {
                replaced.append(record.step)
            }
            for next in steps[(position + 1)...].lazy.filter(\.raw).prefix(ResidualChain.depth) where remote.steps[next.step] != nil {
                rewrite.insert(next.step)
            }
        }
        for step in replaced { rewrite.insert(step) }
        let local = Set(steps.map(\.step))
        var removeAfter: Int?
        if let gone = remote.steps.keys.filter({ !local.contains($0) }).min() {
            // Steps the log's latest truncation removed go from the run too; any other step the
            // run has and the log lacks came from another copy of the log.
            guard let truncated = truncatedAfter, gone > truncated else {
                throw StoreError.inconsistent("the run on the server has step \(gone), which the log does not: "
                    + "it was pushed from another copy of this log; push to another run name")
            }
            removeAfter = truncated
        }
        let firstReplaced = replaced.min() ?? Int.max
        let wanted = Dictionary(snapshots.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var stale: [Int64] = []
        for (id, stored) in remote.snapshots {
            if wanted[id] != stored || stored.step >= firstReplaced { stale.append(id) }
        }
        let staleSet = Set(stale)
        let toWrite = snapshots.filter { remote.snapshots[$0.id] == nil || staleSet.contains($0.id) }
        var atStep = Dictionary(grouping: toWrite, by: \.step)
        var items: [PushItem] = []
        for record in steps where remote.steps[record.step] == nil || rewrite.contains(record.step) {
            items.append(PushItem(step: record.step, replace: remote.steps[record.step] != nil,
                                      snapshots: atStep.removeValue(forKey: record.step) ?? []))
        }
        // Snapshots of steps already on the server, each in its own transaction, in step order.
        for (step, group) in atStep.sorted(by: { $0.key < $1.key }) {
            _ = step
            for snapshot in group { items.append(PushItem(step: nil, replace: false, snapshots: [snapshot])) }
        }
        return Work(items: items, replaced: replaced, staleSnapshots: stale.sorted(), removeAfter: removeAfter)
    }
}

/// What identifies a stored step's content: a replaced step has another source or ingest time; a
/// thinned one no raw weights.
public struct StepKey: Equatable, Sendable {
    public var sourceHash: String
    public var ingestedAt: String
    public var ingestID: Int64
    /// Whether the step's raw weights are stored (a retention policy leaves some out).
    public var raw: Bool

    public init(sourceHash: String, ingestedAt: String, ingestID: Int64, raw: Bool = true) {
        self.sourceHash = sourceHash
        self.ingestedAt = ingestedAt
        self.ingestID = ingestID
        self.raw = raw
    }

    public init(_ record: StepRecord) {
        self.init(sourceHash: record.sourceHash.hex16, ingestedAt: record.ingestedAt, ingestID: record.ingestID, raw: record.raw)
    }
}

/// A run's steps and snapshots as its team store holds them, which a push plans against.
public struct RunState: Sendable {
    public var steps: [Int: StepKey] = [:]
    public var snapshots: [Int64: SnapshotRecord] = [:]

    public init() {}
}

/// One transaction's worth of a push: a step (with the snapshots taken at it), or a snapshot alone.
public struct PushItem: Sendable {
    public var step: Int?
    /// The run holds another version of the step (a `--replace` in the log): it is written again.
    public var replace: Bool
    public var snapshots: [SnapshotRecord]

    public init(step: Int?, replace: Bool, snapshots: [SnapshotRecord]) {
        self.step = step
        self.replace = replace
        self.snapshots = snapshots
    }
}
