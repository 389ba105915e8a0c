import EMALogFormats
public import EMALogStore
import Foundation

/// Changes to a log that are not an ingest: its pins. Each holds the log's ingest lock (one
/// writer at a time) and commits in one transaction. A team store's run is changed by pushing its
/// log again.
public enum LogEdit {
    /// Names `step` of the log at `path` as `name` (a name already used moves to `step`).
    public static func pin(log path: String, step selector: StepSelector, name: String) throws -> PinRecord {
        try checkName(name)
        return try editing(path, store: LogStores.openForPinning) { w in try pin(step: try selector.step(in: w), name: name, in: w) }
    }

    /// Names stored `step` as `name` inside `w` (the name already checked): the step must be in
    /// the log with its raw weights (a pin keeps raw weights; it cannot bring back ones a
    /// retention policy left out). `emalog pin` and an ingest's `P` records both pin through it.
    static func pin(step: Int, name: String, in w: any LogWriter) throws -> PinRecord {
        guard let record = try w.stepRecord(step) else {
            let (below, above) = try w.neighbours(of: step)
            throw QueryError.stepNotFound(step: step, below: below, above: above)
        }
        guard record.raw else {
            let (below, above) = try w.rawNeighbours(of: step)
            throw QueryError.rawNotKept(what: "a pin", missing: step, below: below, above: above)
        }
        let pin = PinRecord(name: name, step: step, pinnedAt: Timestamp.now())
        try w.pin(pin)
        return pin
    }

    /// Removes pin `name` of the log at `path`.
    public static func unpin(log path: String, name: String) throws {
        try editing(path, store: LogStores.openForPinning) { w in
            guard try w.unpin(name: name) else { throw QueryError.unknownPin(name, pins: try w.pins().map(\.name)) }
        }
    }

    /// Ends the log at `step`: every later step (raw weights, snapshots, metric values) is removed
    /// in one transaction, recorded in the audit trail as `arguments` with what was removed, so a
    /// training resumed from its checkpoint at `step` continues the log cleanly (the next ingest
    /// re-derives the tracks from the latest snapshot at or before `step`). Steps that carry a pin
    /// are not removed: their pins must go first.
    public static func truncate(log path: String, after step: StepSelector, arguments: [String]) throws -> Truncation {
        try editing(path) { w in
            let last = try step.step(in: w)
            let pinned = try w.pins().filter { $0.step > last }
            guard pinned.isEmpty else { throw QueryError.pinnedAfterTruncation(step: last, pins: pinned.map(\.name)) }
            // The next ingest resumes every track at `last`, from its latest snapshot at or before
            // it through raw steps: on a thinned log that must be possible.
            let coverage = try RawCoverage(w, through: last)
            if coverage.isThinned, try w.stepRecord(last) != nil {
                let resumable = try coverage.answerableForEveryTrack(w)
                if !resumable.contains(last) {
                    let (below, _) = RawCoverage.nearest(resumable, to: last)
                    let later = try RawCoverage(w).answerableForEveryTrack(w).first { $0 > last }
                    let from = try w.tracks().compactMap { try w.snapshot(track: $0.id, atOrBefore: last)?.step }.min() ?? 0
                    let missing = coverage.steps.first { $0.step > from && !$0.raw }?.step ?? last
                    throw QueryError.rawNotKept(what: "a truncation after step \(last) (the next ingest resumes every track there)",
                                                missing: missing, below: below, above: later)
                }
            }
            var removed = try w.removeSteps(after: last)
            if removed.steps > 0 || removed.metricValues > 0 {
                var json = JSONWriter()
                json.object { json in
                    json.field("truncated_after", last)
                    json.field("removed_steps", removed.steps)
                    json.field("removed_snapshots", removed.snapshots)
                    json.field("removed_metric_values", removed.metricValues)
                }
                _ = try w.insertIngest(arguments: arguments, configuration: json.take())
            } else {
                removed = RemovedSteps()
            }
            return Truncation(after: last, removed: removed)
        }
    }

    /// What `truncate` did.
    public struct Truncation: Sendable {
        public var after: Int
        public var removed: RemovedSteps
    }

    /// A pin's name: a name (`StoredText.nameProblem`) that does not read as a step number.
    static func checkName(_ name: String) throws {
        if let problem = StoredText.nameProblem(name) { throw QueryError.invalidPinName(name, reason: problem) }
        if case .number = StepSelector(parsing: name) {
            throw QueryError.invalidPinName(name, reason: "it reads as a step number; --step would take it as one")
        }
    }

    /// Runs `body` in one write transaction on the existing log at `path` (by default under its
    /// ingest lock).
    private static func editing<T>(_ path: String, store open: (String) throws(StoreError) -> any LogStore = LogStores.openForEdit,
                                   _ body: (any LogWriter) throws -> T) throws -> T {
        let store = try open(path)
        defer { try? store.close() }
        return try store.write(body)
    }
}
