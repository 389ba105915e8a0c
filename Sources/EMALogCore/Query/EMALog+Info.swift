import EMAKernel
import EMALogFormats
import EMALogStore
import Foundation

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
                snapshotChunkBytes: summary.snapshotBytes,
                codecs: summary.codecs.map { LogInfo.CodecTotal(codec: $0.codec, chunks: $0.chunks, storedBytes: $0.storedBytes, rawBytes: $0.rawBytes) },
                ingests: try r.ingests(),
                firstStepRecord: try summary.firstStep.flatMap { try r.stepRecord($0) },
                lastStepRecord: try summary.lastStep.flatMap { try r.stepRecord($0) })
            info.owedSnapshotCount = try r.owedSnapshots().count
            info.pins = try r.pins()
            if info.parameterCount > 0 && info.stepCount > 0 {
                info.bytesPerParameterStep = Double(info.fileBytes + info.walBytes) / Double(info.parameterCount) / Double(info.stepCount)
            }
            return info
        }
    }
}
