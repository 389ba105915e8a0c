import EMAKernel
public import EMALogStore
import Foundation

/// What an ingest did: the one-line summary.
public struct IngestReport: Sendable, Equatable {
    public var stepsAdded = 0
    public var stepsSkipped = 0
    public var stepsReplaced = 0
    public var metricValues = 0
    public var metricValuesUnchanged = 0
    /// Values left out because the log holds another value for their step and key (the stream).
    public var metricValuesKept = 0
    public var snapshotsWritten = 0
    /// Tensor bytes read from the inputs.
    public var bytesWritten = 0
    /// Bytes those tensors take in the log after encoding.
    public var bytesStored = 0
    public var seconds = 0.0
    public var interrupted = false
    /// With `--follow`, complete step files not yet ingested when it stopped, in step order.
    public var backlog: [String] = []
    /// With `--follow`, step files still short of their declared size when it stopped.
    public var incomplete: [String] = []
    /// With `removeIngested`: step files deleted, and those that could not be (path: reason).
    public var filesRemoved = 0
    public var removalFailures: [String] = []
    /// Raw weights the retention policy left out (`--raw-every`): steps, and stored bytes reclaimed.
    public var thinning = Thinning()

    public init() {}

    /// `added 40 steps, skipped 0 identical, 120 metric values, 8.0 MB in 0.12 s (66.7 MB/s)`.
    public var summary: String {
        let mb = Double(bytesWritten) / 1e6
        var parts = ["added \(stepsAdded) step\(stepsAdded == 1 ? "" : "s")", "skipped \(stepsSkipped) identical"]
        if stepsReplaced > 0 { parts.append("replaced \(stepsReplaced)") }
        parts.append("\(metricValues) metric value\(metricValues == 1 ? "" : "s")"
            + (metricValuesUnchanged > 0 ? " (\(metricValuesUnchanged) already stored)" : "")
            + (metricValuesKept > 0 ? " (\(metricValuesKept) differing from stored values, not stored)" : ""))
        parts.append("\(snapshotsWritten) snapshot\(snapshotsWritten == 1 ? "" : "s")")
        let rate = seconds > 0 ? mb / seconds : 0
        let ratio = bytesStored > 0 ? String(format: ", stored as %.1f MB", Double(bytesStored) / 1e6) : ""
        let removed = filesRemoved > 0 || !removalFailures.isEmpty
            ? "; removed \(filesRemoved) step file\(filesRemoved == 1 ? "" : "s")"
                + (removalFailures.isEmpty ? "" : " (\(removalFailures.count) could not be)") : ""
        let thinned = thinning.steps > 0
            ? String(format: "; raw weights of %d step%@ left out by the retention policy (%.1f MB reclaimed)", thinning.steps,
                     thinning.steps == 1 ? "" : "s", Double(thinning.reclaimedBytes) / 1e6) : ""
        return parts.joined(separator: ", ") + String(format: "; %.1f MB in %.2f s (%.1f MB/s)", mb, seconds, rate) + ratio + removed
            + thinned
    }
}
