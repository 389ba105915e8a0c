import EMAKernel
import EMALogFormats
import EMALogStore
import Foundation

extension EMALog {
    /// Summarises the log; first moves the WAL into the file when the log is writable, so sizes are final.
    public func info() throws -> LogInfo {
        if !shards.isEmpty { return try shardedInfo() }
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
            if let first = info.firstStepRecord, let layout = try? ShardLayout.find(in: first.metadata) {
                info.rank = LogInfo.RankOf(rank: layout.rank, ranks: layout.ranks)
            }
            info.pins = try r.pins()
            info.retention = info.ingests.retention
            if let last = summary.lastStep { info.rawStepCount = try r.rawStepNumbers(in: 0...last).count }
            info.projectedBytesPer1000Steps = Self.projection(info)
            if info.parameterCount > 0 && info.stepCount > 0 {
                info.bytesPerParameterStep = Double(info.fileBytes + info.walBytes) / Double(info.parameterCount) / Double(info.stepCount)
            }
            return info
        }
    }

    /// `LogInfo.projectedBytesPer1000Steps`: nil before the first raw step.
    static func projection(_ info: LogInfo) -> Int? {
        guard info.rawStepCount > 0 else { return nil }
        let perRawStep = Double(info.rawChunkBytes) / Double(info.rawStepCount)
        let keptPer1000 = 1000 / Double(info.retention?.rawEvery ?? 1)
        let snapshotEvery = info.ingests.reversed().lazy.compactMap { Self.snapshotEvery($0.configuration) }.first
            ?? info.retention?.rawEvery ?? 1000
        let perSnapshotRound = info.snapshotCount > 0 ? Double(info.snapshotChunkBytes) / Double(info.snapshotCount) * Double(info.tracks.count) : 0
        return Int((keptPer1000 * perRawStep + 1000 / Double(snapshotEvery) * perSnapshotRound).rounded())
    }

    /// The `snapshot_every` of an ingest's configuration, if it is a positive integer.
    static func snapshotEvery(_ configuration: String) -> Int? {
        guard case let .object(members)? = try? JSONParser.parse(Array(configuration.utf8)),
              case let .number(n)? = members.first(where: { $0.key == "snapshot_every" })?.value,
              let k = n.int64.map(Int.init), k > 0 else { return nil }
        return k
    }

    /// A sharded training's summary: rank 0's, with the whole model's tensors, every rank's bytes,
    /// and the steps every rank has.
    private func shardedInfo() throws -> LogInfo {
        let map = try shardMap()
        let perRank = try shards.map { try $0.info() }
        var info = perRank[0]
        info.path = shardGroup ?? info.path
        info.logID = perRank.map(\.logID).joined(separator: "+")
        info.ranks = shards.count
        info.rank = nil
        let whole = map.tensors.map(\.record)
        info.tensorCount = whole.count
        info.parameterCount = whole.filter { $0.dtype.isFloating }.reduce(0) { $0 + $1.elementCount }
        info.bytesPerStep = whole.reduce(0) { $0 + $1.byteCount }
        info.lastStep = perRank.compactMap(\.lastStep).min()
        info.firstStep = perRank.compactMap(\.firstStep).max()
        info.fileBytes = perRank.reduce(0) { $0 + $1.fileBytes }
        info.walBytes = perRank.reduce(0) { $0 + $1.walBytes }
        info.rawChunkBytes = perRank.reduce(0) { $0 + $1.rawChunkBytes }
        info.snapshotChunkBytes = perRank.reduce(0) { $0 + $1.snapshotChunkBytes }
        info.codecs = Dictionary(grouping: perRank.flatMap(\.codecs), by: \.codec).map { codec, totals in
            LogInfo.CodecTotal(codec: codec, chunks: totals.reduce(0) { $0 + $1.chunks },
                               storedBytes: totals.reduce(0) { $0 + $1.storedBytes }, rawBytes: totals.reduce(0) { $0 + $1.rawBytes })
        }.sorted { $0.codec < $1.codec }
        info.projectedBytesPer1000Steps = perRank.compactMap(\.projectedBytesPer1000Steps).reduce(0, +)
        if info.parameterCount > 0 && info.stepCount > 0 {
            info.bytesPerParameterStep = Double(info.fileBytes + info.walBytes) / Double(info.parameterCount) / Double(info.stepCount)
        }
        return info
    }

    /// When this is one rank's log of a sharded training read alone: which rank of how many (its
    /// tensors are that rank's slices). Nil for a whole log and for a folder read whole.
    public func rankReadAlone() -> LogInfo.RankOf? {
        guard shards.isEmpty, let layout = try? store.read({ r in try Self.firstStepLayout(r) }) else { return nil }
        return LogInfo.RankOf(rank: layout.rank, ranks: layout.ranks)
    }
}
