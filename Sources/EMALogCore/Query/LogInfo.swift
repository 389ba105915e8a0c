import EMAKernel
import EMALogFormats
public import EMALogStore
import Foundation

/// A summary of a log (`emalog info`). Its encoding is `info --json`'s members from `steps` on, in
/// `CodingKeys`' order; the path, id and audit trail are the caller's to encode.
public struct LogInfo: Sendable, Encodable {
    public struct Track: Sendable, Encodable {
        public var name: String
        public var spec: String
        public var snapshotSteps: [Int]

        enum CodingKeys: String, CodingKey {
            case name, spec
            case snapshotSteps = "snapshot_steps"
        }
    }

    /// Raw-step chunks of one codec.
    public struct CodecTotal: Sendable, Encodable {
        public var codec: String
        public var chunks: Int
        public var storedBytes: Int
        public var rawBytes: Int

        enum CodingKeys: String, CodingKey {
            case codec, chunks
            case storedBytes = "stored_bytes"
            case rawBytes = "raw_bytes"
        }
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
    /// Raw-step chunks by codec, most stored first.
    public var codecs: [CodecTotal]

    /// The audit trail: every ingest's time, emalog version, command line and configuration.
    public var ingests: [IngestRecord]
    /// The first and last steps' records (source path, size and XXH64, time of ingest).
    public var firstStepRecord: StepRecord?
    public var lastStepRecord: StepRecord?

    /// The whole log file over parameters times steps (nil without parameters or steps).
    public internal(set) var bytesPerParameterStep: Double?
    /// The named steps (`emalog pin`), by name.
    public var pins: [PinRecord] = []
    /// The retention policy (`--raw-every`, `prune`), nil when every raw step is kept.
    public var retention: RetentionPolicy?
    /// Steps whose raw weights are stored (the others' were left out by the policy).
    public var rawStepCount = 0
    /// About how many bytes 1,000 more steps add at this policy: the raw steps it keeps (at the
    /// stored size of the kept ones so far) and the snapshots (every track, every `snapshot_every`).
    public var projectedBytesPer1000Steps: Int?
    /// A sharded training read whole (a folder of rank logs, or a team store's sharded run): how
    /// many ranks; the tensors and parameters are the whole model's, the sizes all ranks' together,
    /// the steps those every rank has.
    public var ranks: Int?
    /// One rank's log of a sharded training, read alone (its first step's `emalog.shard`): which
    /// rank of how many. Its tensors are that rank's slices; the folder reads the whole model.
    public var rank: RankOf?

    public struct RankOf: Sendable, Encodable, Equatable {
        public var rank: Int
        public var ranks: Int
    }

    /// The JSON's members from `steps` on, in its order.
    enum CodingKeys: String, CodingKey {
        case stepCount = "steps"
        case firstStep = "first_step"
        case lastStep = "last_step"
        case tensorCount = "tensors"
        case parameterCount = "parameters"
        case bytesPerStep = "bytes_per_step"
        case tracks
        case snapshotCount = "snapshots"
        case owedSnapshotCount = "owed_snapshots"
        case metricKeys = "metric_keys"
        case metricValueCount = "metric_values"
        case ingestCount = "ingests"
        case fileBytes = "file_bytes"
        case walBytes = "wal_bytes"
        case bytesPerParameterStep = "bytes_per_parameter_step"
        case codecs, migrations, pins, retention
        case rawStepCount = "steps_with_raw"
        case projectedBytesPer1000Steps = "projected_bytes_per_1000_steps"
        case ranks
        case rank = "rank_of"
    }
}
