import EMAKernel
import EMALogFormats
public import EMALogStore
import Foundation

/// A summary of a log (`emalog info`).
public struct LogInfo: Sendable {
    public struct Track: Sendable {
        public var name: String
        public var spec: String
        public var snapshotSteps: [Int]
    }

    public var path: String
    public var logID: String
    public var stepCount: Int
    public var firstStep: Int?
    public var lastStep: Int?
    public var tensorCount: Int
    public var parameterCount: Int
    /// Bytes of one step's raw tensors.
    public var bytesPerStep: Int
    public var tracks: [Track]
    public var snapshotCount: Int
    /// Snapshots a replaced step took away that the next ingest writes again (an ingest stopped
    /// before it did); tracked queries replay from an earlier snapshot meanwhile, as exactly.
    public var owedSnapshotCount = 0
    public var metricKeys: [String]
    public var metricValueCount: Int
    public var ingestCount: Int
    public var migrations: [String]
    /// The log file's size (after a checkpoint when one was possible), plus the WAL's.
    public var fileBytes: Int
    public var walBytes: Int
    public var rawChunkBytes: Int
    public var snapshotChunkBytes: Int
    /// Raw-step chunks by codec: (codec, chunks, stored bytes, raw bytes), most stored first.
    public var codecs: [(codec: String, chunks: Int, storedBytes: Int, rawBytes: Int)]

    /// The audit trail: every ingest's time, emalog version, command line and configuration.
    public var ingests: [IngestRecord]
    /// The first and last steps' records (source path, size and XXH64, time of ingest).
    public var firstStepRecord: StepRecord?
    public var lastStepRecord: StepRecord?

    /// The whole log file over parameters times steps.
    public var bytesPerParameterStep: Double? {
        guard parameterCount > 0, stepCount > 0 else { return nil }
        return Double(fileBytes + walBytes) / Double(parameterCount) / Double(stepCount)
    }
}
