import EMALogFormats
import EMALogStore

extension Ingest {
    /// The policy an ingest follows: `--raw-every`/`--raw-keep-last` when given (a K alone keeps
    /// the log's N), else the log's. `--raw-keep-last` alone changes the log's N; without a policy
    /// in the log it is refused.
    static func retention(_ request: IngestRequest, logs: RetentionPolicy?) throws -> RetentionPolicy? {
        if let k = request.rawEvery {
            return RetentionPolicy(rawEvery: k, rawKeepLast: request.rawKeepLast ?? logs?.rawKeepLast ?? 0)
        }
        if let n = request.rawKeepLast {
            guard let logs else { throw IngestError.keepLastWithoutPolicy }
            return RetentionPolicy(rawEvery: logs.rawEvery, rawKeepLast: n)
        }
        return logs
    }

    /// A pin sent in the stream (`Logger.pin`): the step, once stored, is named in a transaction of
    /// its own, so the retention policy keeps its raw weights. A pin that cannot be taken (a step
    /// the log does not have, a name that cannot be one, raw weights already left out) is a
    /// warning: the run goes on.
    func pin(step: Int, name: String) throws {
        try waitForPendingWrite()
        do {
            if try pinDeferred(step: step, name: name) { return }
            try LogEdit.checkName(name)
            try guardedWrite { w in _ = try LogEdit.pin(step: step, name: name, in: w) }
        } catch let error as QueryError {
            observer.warning("pin '\(name.prefix(200))' of step \(step) not taken: \(error)")
        }
    }

    /// Leaves out the raw weights the retention policy does not keep among the steps at or before
    /// `limit`, where every track has a snapshot (so nothing a track or a resumed ingest needs is
    /// lost), in one transaction of its own. While the ingest goes on (`final` false) the last
    /// `ResidualChain.depth` raw steps stay: the next step's residuals are computed against them.
    func applyRetention(through limit: Int, final: Bool) throws {
        guard let retention, ingestID != nil, snapshotsToRederive.isEmpty, !needsRestore, let first = firstStep else { return }
        try waitForPendingWrite()
        var thinning = Thinning()
        try guardedWrite { w in
            for track in tracks {
                guard let record = track.record else { continue }
                guard try w.snapshot(track: record.id, atOrBefore: limit)?.step == limit else { return }
            }
            guard (undecidedFrom ?? first) <= limit else { return }
            let steps = try w.stepRecords(in: (undecidedFrom ?? first)...limit)
            var drop = retention.droppable(steps, firstStep: first, through: limit, kept: try RetentionPolicy.alwaysKept(w))
            let tail = steps.lazy.filter(\.raw).suffix(final ? 0 : ResidualChain.depth).map(\.step)
            drop.subtract(tail)
            let window = retention.windowStart(steps) ?? limit
            undecidedFrom = min(tail.first ?? limit, window, limit)
            thinning = try w.thin(dropping: drop, tensors: tensors)
        }
        report.thinning.add(thinning)
    }
}
