public import EMAKernel
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
    /// Snapshot whenever a step crosses a multiple of this (and at the end of each ingest); nil:
    /// the retention policy's K when there is one, else 1000.
    public var snapshotEvery: Int?
    /// The retention policy's K and N (`--raw-every`, `--raw-keep-last`); nil: the log's policy
    /// (the latest its audit trail records), if any.
    public var rawEvery: Int?
    public var rawKeepLast: Int?
    /// A raw step is stored whole (a keyframe) every K steps; the steps between are residuals
    /// against the previous ones, so a query decodes at most K steps of a chunk.
    public var keyframeEvery = 32
    /// Keep watching folders (and metrics files) until SIGINT/SIGTERM.
    public var follow = false
    /// Overwrite stored steps and metrics that differ instead of refusing them.
    public var replace = false
    /// A metric value that differs from a stored one is left out with a warning instead of
    /// refusing its file (`ingest -`: a training run does not stop for a duplicate scalar).
    public var keepStoredMetrics = false
    /// What `ingest -` names as each frame's source (the audit trail's source path), before
    /// " record N"; "stdin" when nil.
    public var streamSource: String?
    /// Store NaN/Inf weights instead of refusing them.
    public var allowNonFinite = false
    /// Delete each step file once the log holds its step (committed, or found identical), never
    /// before; refused files and metrics files are left alone.
    public var removeIngested = false
    /// Seconds between scans in `--follow` that found nothing new (the CLI accepts 0.001 to 3600).
    public var pollInterval = 0.2
    /// Polled between steps (`--follow` and `ingest -`): once requested, the step under way
    /// commits and the ingest stops. The process's SIGINT/SIGTERM by default.
    public var stop = StopToken.signals
    /// The descriptor `ingest -` reads its records from (stdin by default).
    public var streamDescriptor: Int32 = 0
    /// The trainer's shared memory for `Z` records (`ingest -` from the Python Logger), if any.
    public var sharedMemoryDescriptor: Int32?
    /// Points where a test acts in the middle of an ingest.
    public var hooks = IngestHooks()
    /// The command line, for the audit trail.
    public var arguments: [String] = []
    /// Largest chunk for a new log (smaller in tests).
    public var chunkBytes = defaultChunkBytes
    public static let defaultChunkBytes = ChunkLayout.defaultChunkBytes

    public init(logPath: String, inputs: [String]) {
        self.logPath = logPath
        self.inputs = inputs
    }
}

/// Points where a caller (a test) acts in the middle of an ingest; none by default.
public struct IngestHooks: Sendable {
    /// Called before the live shadows are restored (replayed from the latest snapshots, writing
    /// the snapshots a replaced step took away); an error it throws stops the ingest there, as
    /// a kill would.
    public var beforeRestore: (@Sendable () throws -> Void)?
    /// Called after each window of a step file is read (see `StepFile.forEachWindow`), with the
    /// file's path and the window's end offset: a test changes the file there.
    public var afterWindowRead: (@Sendable (_ path: String, _ end: Int) -> Void)?

    public init() {}
}
