import EMALogFormats
import EMALogStore
import PostgresNIO

/// What a local log holds at the start of a push, read in one view.
struct LocalPlan: Sendable {
    var logID: String
    var createdAt: String
    var tensors: [TensorRecord]
    var ingests: [IngestRecord]
    var tracks: [TrackRecord]
    var steps: [StepRecord]
    var snapshots: [SnapshotRecord]
    var metricKeys: [String: Int64]

    init(_ r: any LogReader) throws {
        logID = try r.logID()
        tensors = try r.tensors()
        ingests = try r.ingests()
        createdAt = ingests.first?.startedAt ?? ""
        tracks = try r.tracks()
        steps = try r.stepRecords(in: 0...StepNumber.largest)
        snapshots = try tracks.flatMap { try r.snapshots(track: $0.id) }
        metricKeys = try r.metricKeys()
    }

    /// The steps and snapshots to write, in step order, and the snapshots on the server to delete first.
    struct Work {
        var items: [RunPush.Item]
        var replaced: [Int]
        var staleSnapshots: [Int64]
    }

    /// Compares the log with the run on the server. A step whose record differs was replaced in
    /// the log (`--replace`): it is written again, and so are the next `ResidualChain.depth`
    /// stored steps (their residuals were re-encoded without it) and every snapshot from it on
    /// (their ids may have been reused for new content).
    func work(against remote: RemoteState) throws -> Work {
        var replaced: [Int] = []
        var rewrite = Set<Int>()
        for (position, record) in steps.enumerated() {
            guard let stored = remote.steps[record.step] else { continue }
            if stored != StepKey(record) {
                replaced.append(record.step)
                for next in steps[(position + 1)...].prefix(ResidualChain.depth) where remote.steps[next.step] != nil {
                    rewrite.insert(next.step)
                }
            }
        }
        for step in replaced { rewrite.insert(step) }
        let local = Set(steps.map(\.step))
        if let gone = remote.steps.keys.filter({ !local.contains($0) }).min() {
            throw StoreError.inconsistent("the run on the server has step \(gone), which the log does not: "
                + "it was pushed from another copy of this log; push to another run name")
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
        var items: [RunPush.Item] = []
        for record in steps where remote.steps[record.step] == nil || rewrite.contains(record.step) {
            items.append(RunPush.Item(step: record.step, replace: remote.steps[record.step] != nil,
                                      snapshots: atStep.removeValue(forKey: record.step) ?? []))
        }
        // Snapshots of steps already on the server, each in its own transaction, in step order.
        for (step, group) in atStep.sorted(by: { $0.key < $1.key }) {
            _ = step
            for snapshot in group { items.append(RunPush.Item(step: nil, replace: false, snapshots: [snapshot])) }
        }
        return Work(items: items, replaced: replaced, staleSnapshots: stale.sorted())
    }
}

/// What identifies a stored step's content: a replaced step has another source or ingest time.
struct StepKey: Equatable, Sendable {
    var sourceHash: String
    var ingestedAt: String
    var ingestID: Int64

    init(sourceHash: String, ingestedAt: String, ingestID: Int64) {
        self.sourceHash = sourceHash
        self.ingestedAt = ingestedAt
        self.ingestID = ingestID
    }

    init(_ record: StepRecord) {
        self.init(sourceHash: record.sourceHash.hex16, ingestedAt: record.ingestedAt, ingestID: record.ingestID)
    }
}

/// The run's steps and snapshots on the server.
struct RemoteState {
    var steps: [Int: StepKey] = [:]
    var snapshots: [Int64: SnapshotRecord] = [:]

    init(_ connection: ServerConnection, runID: Int64) throws {
        for (step, hash, at, ingest) in try connection.rows(
            "SELECT step, source_xxh64, ingested_at, ingest_id FROM run_steps WHERE run_id = \(runID)", "read the run's steps", {
                try $0.decode((Int, String, String, Int64).self)
            }) { steps[step] = StepKey(sourceHash: hash, ingestedAt: at, ingestID: ingest) }
        for (id, track, step) in try connection.rows(
            "SELECT id, track_id, step FROM run_snapshots WHERE run_id = \(runID)", "read the run's snapshots", {
                try $0.decode((Int64, Int64, Int).self)
            }) { snapshots[id] = SnapshotRecord(id: id, trackID: track, step: step) }
    }
}
