import EMAKernel
import EMALogStore
import Foundation

/// What `emalog ingest` was asked to do.
public struct IngestRequest: Sendable {
    /// The log to write (created when missing).
    public var logPath: String
    /// Safetensors files, folders of them, and metrics `.jsonl` files.
    public var inputs: [String]
    /// Tracks to add (stored tracks always continue).
    public var tracks: [EMASpec] = []
    /// Snapshot whenever a step crosses a multiple of this (and at the end of each ingest).
    public var snapshotEvery = 1000
    /// A raw step is stored whole (a keyframe) every K steps; the steps between are residuals
    /// against the previous ones, so a query decodes at most K steps of a chunk.
    public var keyframeEvery = 32
    /// Keep watching folders (and metrics files) until SIGINT/SIGTERM.
    public var follow = false
    /// Overwrite stored steps and metrics that differ instead of refusing them.
    public var replace = false
    /// Store NaN/Inf weights instead of refusing them.
    public var allowNonFinite = false
    /// Seconds between scans in `--follow` that found nothing new (the CLI accepts 0.001 to 3600).
    public var pollInterval = 0.2
    /// The command line, for the audit trail.
    public var arguments: [String] = []
    /// Largest chunk for a new log (smaller in tests).
    public var chunkBytes = defaultChunkBytes
    public static let defaultChunkBytes = LogStore.defaultChunkBytes

    public init(logPath: String, inputs: [String]) {
        self.logPath = logPath
        self.inputs = inputs
    }
}

/// What an ingest did: the one-line summary.
public struct IngestReport: Sendable, Equatable {
    public var stepsAdded = 0
    public var stepsSkipped = 0
    public var stepsReplaced = 0
    public var metricValues = 0
    public var metricValuesUnchanged = 0
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

    public init() {}

    /// `added 40 steps, skipped 0 identical, 120 metric values, 8.0 MB in 0.12 s (66.7 MB/s)`.
    public var summary: String {
        let mb = Double(bytesWritten) / 1e6
        var parts = ["added \(stepsAdded) step\(stepsAdded == 1 ? "" : "s")", "skipped \(stepsSkipped) identical"]
        if stepsReplaced > 0 { parts.append("replaced \(stepsReplaced)") }
        parts.append("\(metricValues) metric value\(metricValues == 1 ? "" : "s")"
            + (metricValuesUnchanged > 0 ? " (\(metricValuesUnchanged) already stored)" : ""))
        parts.append("\(snapshotsWritten) snapshot\(snapshotsWritten == 1 ? "" : "s")")
        let rate = seconds > 0 ? mb / seconds : 0
        let ratio = bytesStored > 0 ? String(format: ", stored as %.1f MB", Double(bytesStored) / 1e6) : ""
        return parts.joined(separator: ", ") + String(format: "; %.1f MB in %.2f s (%.1f MB/s)", mb, seconds, rate) + ratio
    }
}

/// Receives progress and warnings while long work runs.
public protocol ProgressObserver: Sendable {
    /// `done` of `total` units (total 0 when unknown), with a label.
    func progress(_ label: String, done: Int, total: Int)
    /// A non-fatal remark (e.g. a skipped metrics key).
    func warning(_ message: String)
}

/// An observer that ignores everything.
public struct SilentObserver: ProgressObserver {
    public init() {}
    public func progress(_ label: String, done: Int, total: Int) {}
    public func warning(_ message: String) {}
}
