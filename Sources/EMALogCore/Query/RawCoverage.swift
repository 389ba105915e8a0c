import EMALogStore

/// Which steps a shadow can be computed at when a retention policy left out raw steps: one
/// starts from the track's latest snapshot at or before the step (or, untracked, from the first
/// step) and replays every step after it, so each of those needs its raw weights.
struct RawCoverage {
    let steps: [StepRecord]

    /// The log's steps up to `last` (all of them by default).
    init(_ r: any LogReader, through last: Int = Int.max) throws {
        steps = try r.stepRecords(in: 0...last)
    }

    /// The steps where every track of `r` can be computed (all steps for a log without tracks).
    func answerableForEveryTrack(_ r: any LogReader) throws -> [Int] {
        var common = Set(steps.map(\.step))
        for track in try r.tracks() {
            common.formIntersection(answerable(snapshots: Set(try r.snapshots(track: track.id).map(\.step))))
        }
        return common.sorted()
    }

    /// Whether the log left out any raw step.
    var isThinned: Bool { steps.contains { !$0.raw } }

    /// The steps a shadow of a track with snapshots at `snapshots` (none: untracked) can be
    /// computed at: a snapshot's step, or a raw step right after one that can.
    func answerable(snapshots: Set<Int>) -> [Int] {
        var reachable = false
        var result: [Int] = []
        for (i, record) in steps.enumerated() {
            reachable = snapshots.contains(record.step) || (record.raw && (i == 0 || reachable))
            if reachable { result.append(record.step) }
        }
        return result
    }

    /// The nearest of `steps` below and above `step`.
    static func nearest(_ steps: [Int], to step: Int) -> (below: Int?, above: Int?) {
        (steps.last { $0 < step }, steps.first { $0 > step })
    }
}
