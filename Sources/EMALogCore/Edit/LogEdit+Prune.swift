import EMALogFormats
public import EMALogStore
import Foundation

extension LogEdit {
    /// What `prune` did (or, for a dry run, would do).
    public struct Pruning: Sendable, Encodable {
        public var policy: RetentionPolicy
        public var dryRun: Bool
        /// Steps whose raw weights were left out now, and the steps that keep theirs.
        public var stepsDropped: Int
        public var stepsWithRaw: Int
        public var steps: Int
        /// Stored bytes of raw chunks reclaimed (the chunks deleted, less what re-encoding the
        /// kept steps after them added).
        public var reclaimedBytes: Int
        /// The log's size on disk before and after (after: the dry run's estimate).
        public var sizeBefore: Int
        public var sizeAfter: Int
        /// Steps after the tracks' latest snapshot keep their raw weights (a resumed ingest replays them).
        public var protectedAfter: Int?
        /// Snapshots written at kept multiples of K that had none (so a tracked EMA reads there).
        public var snapshotsWritten = 0
        /// Steps the policy keeps whose raw weights an earlier policy already left out (they do not come back).
        public var keptButGone = 0

        enum CodingKeys: String, CodingKey {
            case policy, dryRun = "dry_run", stepsDropped = "steps_dropped", stepsWithRaw = "steps_with_raw", steps
            case reclaimedBytes = "reclaimed_bytes", sizeBefore = "size_before", sizeAfter = "size_after"
            case protectedAfter = "protected_after"
            case snapshotsWritten = "snapshots_written"
            case keptButGone = "kept_but_gone"
        }
    }

    /// The dry run's outcome, thrown out of its transaction so nothing of it commits.
    private struct RolledBack: Error { var pruning: Pruning }

    /// Applies `policy` to the log at `path`: the raw weights of every step it does not keep (the
    /// first, multiples of K, the last N, pinned steps) are left out, the kept steps after them
    /// re-encoded so each still decodes byte for byte, in one transaction recorded in the audit
    /// trail with the policy (later ingests follow it); then the file is compacted. Steps after
    /// the tracks' latest snapshot keep their raw weights (the next ingest replays them). Every
    /// snapshot stays, so every tracked shadow readable at a snapshot step stays bit-identical.
    /// `dryRun`: the same work, rolled back, reporting what it would reclaim.
    /// `keepLast` nil: the N of the log's policy (0 without one).
    public static func prune(log path: String, rawEvery: Int, keepLast: Int?, dryRun: Bool, arguments: [String]) throws -> Pruning {
        let store = try LogStores.openForEdit(path)
        defer { try? store.close() }
        let before = try store.storedSize()
        var pruning: Pruning
        do {
            pruning = try store.write { w in
                let policy = RetentionPolicy(rawEvery: rawEvery, rawKeepLast: try keepLast ?? w.ingests().retention?.rawKeepLast ?? 0)
                var pruning = try thin(w, policy: policy, dryRun: dryRun, sizeBefore: before.main + before.pending)
                if dryRun { throw RolledBack(pruning: pruning) }
                let recorded = try w.ingests().retention
                if pruning.stepsDropped > 0 || recorded != policy {
                    var json = JSONWriter()
                    json.object { json in
                        json.field("pruned", true)
                        json.field("raw_every", policy.rawEvery)
                        json.field("raw_keep_last", policy.rawKeepLast)
                        json.field("steps_dropped", pruning.stepsDropped)
                        json.field("reclaimed_bytes", pruning.reclaimedBytes)
                    }
                    _ = try w.insertIngest(arguments: arguments, configuration: json.take())
                }
                pruning.sizeAfter = pruning.sizeBefore
                return pruning
            }
        } catch let rolledBack as RolledBack {
            return rolledBack.pruning
        }
        // Also when this run dropped nothing: a prune killed after its commit left the pages free.
        let free = try store.freeFraction()
        if pruning.stepsDropped > 0 || free >= 0.05 { try store.compact() }
        // Measured once the store is closed: its last connection moves the WAL into the file.
        try store.close()
        let reader = try LogStores.openForReading(path)
        defer { try? reader.close() }
        let after = try reader.storedSize()
        pruning.sizeAfter = after.main + after.pending
        return pruning
    }

    private static func thin(_ w: any LogWriter, policy: RetentionPolicy, dryRun: Bool, sizeBefore: Int) throws -> Pruning {
        let records = try w.stepRecords(in: 0...Int.max)
        var pruning = Pruning(policy: policy, dryRun: dryRun, stepsDropped: 0, stepsWithRaw: records.filter(\.raw).count,
                              steps: records.count, reclaimedBytes: 0, sizeBefore: sizeBefore, sizeAfter: sizeBefore)
        guard let first = records.first?.step, let last = records.last?.step else { return pruning }
        // Every track must be able to resume from its latest snapshot: only steps at or before
        // the earliest of those lose their raw weights; a replaced step's owed snapshots wait for
        // the ingest that writes them.
        var limit = last
        for track in try w.tracks() {
            limit = min(limit, try w.snapshot(track: track.id, atOrBefore: last)?.step ?? (first - 1))
        }
        if !(try w.owedSnapshots()).isEmpty { limit = first - 1 }
        if limit < last { pruning.protectedAfter = limit }
        let kept = try RetentionPolicy.alwaysKept(w)
        pruning.keptButGone = records.filter { !$0.raw && ($0.step % policy.rawEvery == 0 || kept.contains($0.step)) }.count
        pruning.snapshotsWritten = try snapshotKeptSteps(w, records, policy: policy, through: limit)
        let drop = policy.droppable(records, firstStep: first, through: limit, kept: kept)
        let thinning = try w.thin(dropping: drop, tensors: try w.tensors())
        pruning.stepsDropped = thinning.steps
        pruning.stepsWithRaw -= thinning.steps
        pruning.reclaimedBytes = thinning.reclaimedBytes
        pruning.sizeAfter = max(0, sizeBefore - thinning.reclaimedBytes)
        return pruning
    }

    /// Every track gets a snapshot at each multiple of K it has none at (up to `limit`), so the
    /// steps the policy keeps answer tracked queries as an ingest with the policy would (its
    /// snapshots follow K): one replay, from each track's latest snapshot before. A log whose raw
    /// steps up to `limit` are not all there (an earlier policy) keeps the snapshots it has.
    private static func snapshotKeptSteps(_ w: any LogWriter, _ records: [StepRecord], policy: RetentionPolicy, through limit: Int) throws -> Int {
        let tracks = try w.tracks()
        let upToLimit = records.prefix { $0.step <= limit }
        guard !tracks.isEmpty, upToLimit.allSatisfy(\.raw) else { return 0 }
        let targets = upToLimit.map(\.step).filter { $0 % policy.rawEvery == 0 }
        let replay = try Replay(reader: w)
        let shadows = try tracks.map { try ShadowState(spec: try $0.profile(), tensors: replay.tensors) }
        var written = 0
        for step in targets {
            let missing = try tracks.indices.filter { try w.snapshot(track: tracks[$0].id, atOrBefore: step)?.step != step }
            guard !missing.isEmpty else { continue }
            for k in tracks.indices {
                if let snapshot = try w.snapshot(track: tracks[k].id, atOrBefore: step), snapshot.step > (shadows[k].step ?? Int.min) {
                    try replay.load(snapshot, into: shadows[k])
                }
            }
            try replay.advance(shadows, to: step)
            for k in missing {
                let snapshot = try w.insertSnapshot(track: tracks[k].id, step: step)
                for tensor in replay.floating {
                    try shadows[k].withBytes(of: tensor) { try w.insertPlainChunks(of: tensor, in: .snapshot(snapshot.id), bytes: $0) }
                }
                written += 1
            }
        }
        return written
    }
}
