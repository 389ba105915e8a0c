import EMALogFormats

/// Which raw steps a log keeps (`--raw-every K --raw-keep-last N`, `emalog prune`): the first
/// step, multiples of K, the last N steps and pinned steps keep their raw weights; every other
/// step keeps its record, metrics and its part in every track, not its weights. Recorded in the
/// audit trail (the configuration of the ingest or prune that set it: `raw_every`, `raw_keep_last`).
public struct RetentionPolicy: Sendable, Equatable, Encodable {
    public var rawEvery: Int
    public var rawKeepLast: Int

    public init(rawEvery: Int, rawKeepLast: Int = 0) {
        precondition(rawEvery >= 1 && rawKeepLast >= 0, "raw every \(rawEvery), keep last \(rawKeepLast)")
        self.rawEvery = rawEvery
        self.rawKeepLast = rawKeepLast
    }

    enum CodingKeys: String, CodingKey {
        case rawEvery = "raw_every"
        case rawKeepLast = "raw_keep_last"
    }

    /// The largest K or N accepted (a step number's range).
    public static let largest = Int(Int32.max)

    /// The steps of `steps` (the records of the log's latest steps, ascending, to its last) at or
    /// before `limit` whose raw weights the policy leaves out: raw now, not `firstStep`, not a
    /// multiple of K, not among the last N steps, not in `kept` (pinned steps; and, in a log with
    /// integer tensors, snapshot steps: a shadow's integer tensors are its step's raw values, which
    /// no snapshot holds, so a shadow read at a snapshot step stays the same).
    public func droppable(_ steps: [StepRecord], firstStep: Int, through limit: Int, kept: Set<Int>) -> Set<Int> {
        let window = windowStart(steps) ?? Int.max
        var drop = Set<Int>()
        for record in steps {
            guard record.step <= limit else { break }
            if !record.raw || record.step == firstStep || record.step % rawEvery == 0 || record.step >= window
                || kept.contains(record.step) { continue }
            drop.insert(record.step)
        }
        return drop
    }

    /// The steps a log keeps whatever the policy: its pinned steps, and its snapshot steps when it
    /// has integer tensors (see `droppable`).
    public static func alwaysKept(_ r: any LogReader) throws -> Set<Int> {
        var kept = Set(try r.pins().map(\.step))
        if try r.tensors().contains(where: { !$0.dtype.isFloating }) {
            for track in try r.tracks() { kept.formUnion(try r.snapshots(track: track.id).map(\.step)) }
        }
        return kept
    }

    /// The first of the last N steps of `steps` (ascending, to the log's last); nil when N is 0.
    public func windowStart(_ steps: [StepRecord]) -> Int? {
        guard rawKeepLast > 0, let first = steps.first?.step else { return nil }
        return steps.count >= rawKeepLast ? steps[steps.count - rawKeepLast].step : first
    }
}

extension IngestRecord {
    /// Whether this entry of the audit trail records an `emalog prune` (it wrote no step).
    public var isPrune: Bool {
        guard case let .object(members)? = try? JSONParser.parse(Array(configuration.utf8)),
              case .bool(true)? = members.first(where: { $0.key == "pruned" })?.value else { return false }
        return true
    }

    /// The retention policy this entry of the audit trail set (its configuration's `raw_every`
    /// and `raw_keep_last`), nil when it set none.
    public var retention: RetentionPolicy? {
        guard case let .object(members)? = try? JSONParser.parse(Array(configuration.utf8)),
              case let .number(every)? = members.first(where: { $0.key == "raw_every" })?.value,
              let k = every.int64.map(Int.init), (1...RetentionPolicy.largest).contains(k) else { return nil }
        var n = 0
        if case let .number(last)? = members.first(where: { $0.key == "raw_keep_last" })?.value,
           let value = last.int64.map(Int.init), (0...RetentionPolicy.largest).contains(value) {
            n = value
        }
        return RetentionPolicy(rawEvery: k, rawKeepLast: n)
    }
}

extension Sequence<IngestRecord> {
    /// The log's retention policy: the latest one its audit trail records.
    public var retention: RetentionPolicy? {
        reversed().lazy.compactMap(\.retention).first
    }
}
