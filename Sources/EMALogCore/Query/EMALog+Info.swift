import EMAKernel
public import EMALogStore
import Foundation
import EMALogFormats

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

extension EMALog {
    /// Summarises the log; first moves the WAL into the file when the log is writable, so sizes are final.
    public func info() throws -> LogInfo {
        try requireOneLog("info")
        let size = try store.storedSize()
        return try store.read { r in
            let summary = try r.summary()
            let tensors = try r.tensors()
            let tracks = try r.tracks().map { t in
                LogInfo.Track(name: t.name, spec: t.spec, snapshotSteps: try r.snapshots(track: t.id).map(\.step))
            }
            var info = LogInfo(
                path: store.path, logID: try r.logID(), stepCount: summary.stepCount, firstStep: summary.firstStep,
                lastStep: summary.lastStep, tensorCount: tensors.count,
                parameterCount: tensors.filter { $0.dtype.isFloating }.reduce(0) { $0 + $1.elementCount },
                bytesPerStep: tensors.reduce(0) { $0 + $1.byteCount }, tracks: tracks,
                snapshotCount: summary.snapshotCount, metricKeys: try r.metricKeys().keys.sorted(),
                metricValueCount: summary.metricValueCount, ingestCount: summary.ingestCount,
                migrations: try r.appliedMigrations(), fileBytes: size.main,
                walBytes: size.pending, rawChunkBytes: summary.chunkBytes,
                snapshotChunkBytes: summary.snapshotBytes, codecs: summary.codecs, ingests: try r.ingests(),
                firstStepRecord: try summary.firstStep.flatMap { try r.stepRecord($0) },
                lastStepRecord: try summary.lastStep.flatMap { try r.stepRecord($0) })
            info.owedSnapshotCount = try r.owedSnapshots().count
            return info
        }
    }
}
