public import EMALogFormats

/// A tensor of the log's tensor set.
public struct TensorRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Order of the tensor's data in the first step's file.
    public var position: Int

    public init(id: Int64, name: String, dtype: DType, shape: [Int], position: Int) {
        self.id = id
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.position = position
    }

    /// A record as read back from a backend, validated before anything is sized from it: a known
    /// dtype, a shape (nil: the stored text did not parse) whose element and byte counts fit, as
    /// the dtype and as a Float32 shadow, equal to the stored element count (a hand-edited shape
    /// such as [1e12] would otherwise size a shadow of terabytes). `shapeText` is the shape as the
    /// backend stores it, for messages. Backends also check that the first step's chunks hold
    /// exactly these bytes.
    public init(validating id: Int64, name: String, dtype dtypeName: String, shape: [Int]?, shapeText: String,
                elementCount stored: Int, position: Int) throws(StoreError) {
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .inconsistent("tensor '\(name)' has unknown dtype '\(dtypeName.prefix(40))'")
        }
        guard let shape, shape.allSatisfy({ $0 >= 0 }), let count = Self.elementCount(shape),
              count.multipliedReportingOverflow(by: max(4, dtype.byteWidth)).overflow == false else {
            throw .inconsistent("tensor '\(name)' has an invalid shape '\(shapeText.prefix(80))'")
        }
        guard count == stored else {
            throw .inconsistent("tensor '\(name)' has shape \(shapeText) (\(count) elements) but its element count says \(stored)")
        }
        self.init(id: id, name: name, dtype: dtype, shape: shape, position: position)
    }

    /// Checks that the first stored step (`first`) holds each of `tensors`' bytes: `held` is, per
    /// tensor id, how many chunks that step has and their raw bytes, as a backend counted them.
    /// `store` names the log or run in the message.
    public static func checkFirstStep(_ first: Int, holds tensors: [TensorRecord], held: [Int64: (chunks: Int, bytes: Int)],
                                      layout: ChunkLayout, store: String) throws(StoreError) {
        for tensor in tensors {
            let expected = layout.count(of: tensor.byteCount)
            guard let found = held[tensor.id], found.chunks == expected, found.bytes == tensor.byteCount else {
                let found = held[tensor.id].map { "\($0.chunks) chunks of \($0.bytes) bytes" } ?? "no chunks"
                throw .inconsistent("tensor '\(tensor.name)' (\(tensor.dtype.rawValue) \(tensor.shape)) needs "
                    + "\(expected) chunks of \(tensor.byteCount) bytes at the first step \(first), the \(store) holds \(found)")
            }
        }
    }

    /// The product of `shape`, nil when it overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * dtype.byteWidth }
    public var layout: TensorLayout { TensorLayout(name: name, dtype: dtype, shape: shape) }
}

/// One ingested step's audit record.
public struct StepRecord: Sendable, Equatable {
    public var step: Int
    public var ingestID: Int64
    public var sourcePath: String
    public var sourceSize: Int
    public var sourceHash: UInt64
    public var metadata: [String: String]
    public var ingestedAt: String

    public init(step: Int, ingestID: Int64, sourcePath: String, sourceSize: Int, sourceHash: UInt64,
                metadata: [String: String], ingestedAt: String) {
        self.step = step
        self.ingestID = ingestID
        self.sourcePath = sourcePath
        self.sourceSize = sourceSize
        self.sourceHash = sourceHash
        self.metadata = metadata
        self.ingestedAt = ingestedAt
    }
}

/// One `emalog ingest` that wrote something: the audit trail's record of it.
public struct IngestRecord: Sendable, Equatable {
    public var id: Int64
    public var startedAt: String
    public var emalogVersion: String
    /// The command line, as given.
    public var arguments: [String]
    /// The run configuration, a JSON object (tracks, snapshot interval, options, migrations).
    public var configuration: String

    public init(id: Int64, startedAt: String, emalogVersion: String, arguments: [String], configuration: String) {
        self.id = id
        self.startedAt = startedAt
        self.emalogVersion = emalogVersion
        self.arguments = arguments
        self.configuration = configuration
    }
}

/// A metric row that cannot be what an ingest wrote (found by an audit).
public struct DamagedMetricRow: Sendable, Equatable {
    public var step: Int
    public var keyID: Int64
    /// What is wrong with it.
    public var problem: String

    public init(step: Int, keyID: Int64, problem: String) {
        self.step = step
        self.keyID = keyID
        self.problem = problem
    }
}

/// A stored EMA track.
public struct TrackRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    /// The canonical spec text (without the name).
    public var spec: String

    public init(id: Int64, name: String, spec: String) {
        self.id = id
        self.name = name
        self.spec = spec
    }
}

/// A stored shadow snapshot.
public struct SnapshotRecord: Sendable, Equatable {
    public var id: Int64
    public var trackID: Int64
    public var step: Int

    public init(id: Int64, trackID: Int64, step: Int) {
        self.id = id
        self.trackID = trackID
        self.step = step
    }
}

/// Where a blob's chunks live: a raw step or a snapshot.
public enum ChunkOwner: Sendable, Hashable {
    case step(Int)
    case snapshot(Int64)

    public var isSnapshot: Bool {
        if case .snapshot = self { return true }
        return false
    }

    /// The bytes `tensor` takes for this owner: its own dtype in a raw step, Float32 in a snapshot
    /// (a shadow is kept in Float32 whatever the parameter's dtype).
    public func byteCount(of tensor: TensorRecord) -> Int {
        isSnapshot ? tensor.elementCount * 4 : tensor.byteCount
    }

    /// The dtype the owner's chunks hold for `tensor`.
    public func dtype(of tensor: TensorRecord) -> DType { isSnapshot ? .f32 : tensor.dtype }

    /// "at step 3", "in snapshot 2", for messages.
    public var label: String {
        switch self {
        case let .step(s): "at step \(s)"
        case let .snapshot(id): "in snapshot \(id)"
        }
    }
}

/// Totals shown by `info`.
public struct StoreSummary: Sendable {
    public var stepCount: Int
    public var firstStep: Int?
    public var lastStep: Int?
    public var chunkCount: Int
    public var chunkBytes: Int
    public var snapshotCount: Int
    public var snapshotBytes: Int
    public var metricKeyCount: Int
    public var metricValueCount: Int
    public var ingestCount: Int
    /// Raw-step chunks by codec: (codec, chunks, stored bytes, raw bytes), most stored first.
    public var codecs: [(codec: String, chunks: Int, storedBytes: Int, rawBytes: Int)] = []

    public init(stepCount: Int, firstStep: Int?, lastStep: Int?, chunkCount: Int, chunkBytes: Int, snapshotCount: Int,
                snapshotBytes: Int, metricKeyCount: Int, metricValueCount: Int, ingestCount: Int,
                codecs: [(codec: String, chunks: Int, storedBytes: Int, rawBytes: Int)] = []) {
        self.stepCount = stepCount
        self.firstStep = firstStep
        self.lastStep = lastStep
        self.chunkCount = chunkCount
        self.chunkBytes = chunkBytes
        self.snapshotCount = snapshotCount
        self.snapshotBytes = snapshotBytes
        self.metricKeyCount = metricKeyCount
        self.metricValueCount = metricValueCount
        self.ingestCount = ingestCount
        self.codecs = codecs
    }
}
