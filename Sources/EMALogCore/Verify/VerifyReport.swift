public import EMAKernel
public import EMALogFormats

/// How close a checkpoint tensor must be to emalog's replay to pass.
public enum VerifyTolerance: Sendable, Equatable {
    /// Bit for bit.
    case exact
    /// Every element within this absolute difference.
    case absolute(Double)
    /// Every element within this many units in the last place of the checkpoint's dtype.
    case ulps(Int)
}

/// One tensor of a verify: how the checkpoint's tensor compares with the log's replay.
public struct TensorVerdict: Sendable, Equatable {
    public enum Status: String, Sendable {
        case exact, withinTolerance = "within-tolerance", differs
        case onlyInCheckpoint = "only-in-checkpoint", onlyInLog = "only-in-log", notCompared = "not-compared"
    }

    /// Why a tensor was not compared, or why it differs without an element to point at.
    public enum Reason: Sendable, Equatable {
        /// A counter the library keeps (`n_averaged`, `initted`, `step`).
        case libraryCounter
        /// ema-pytorch's copy of the live model's weights, not an EMA.
        case onlineWeights
        /// An integer buffer whose bytes differ from the log's latest raw value (AveragedModel
        /// averages integer buffers in its own integer arithmetic; ema-pytorch and timm copy them).
        case integerBuffer
        /// The checkpoint's dtype or shape is not the log tensor's: `checkpoint` vs `log`.
        case layoutMismatch(checkpoint: String, log: String)
    }

    /// The checkpoint's tensor name (nil: only in the log).
    public var name: String?
    /// The log's tensor name (nil: only in the checkpoint, or a counter).
    public var logName: String?
    /// The checkpoint's dtype (the log's for a tensor only in the log).
    public var dtype: DType
    public var status: Status
    public var reason: Reason?
    /// Largest absolute difference (nil when not compared).
    public var maxAbs: Double?
    /// Largest distance in units in the last place of the checkpoint's dtype.
    public var maxULP: Int?
    /// First element whose bits differ, with the checkpoint's and the log's values there.
    public var firstIndex: Int?
    public var checkpointValue: Double?
    public var logValue: Double?
}

/// The result of comparing a training-time EMA checkpoint with emalog's replay: data, no wording.
public struct VerifyReport: Sendable {
    public enum Verdict: String, Sendable { case exact, withinTolerance = "within-tolerance", differs }

    public var checkpointPath: String
    public var step: Int
    public var spec: EMASpec
    /// The stored track used, nil for a post-hoc replay.
    public var trackName: String?
    public var layout: CheckpointLayout
    public var tolerance: VerifyTolerance
    public var strict: Bool
    /// Every checkpoint tensor in the checkpoint's order, then the log's tensors it lacks.
    public var tensors: [TensorVerdict]

    /// Floating tensors both have, compared element by element.
    public var comparedCount: Int {
        tensors.filter { $0.dtype.isFloating && [.exact, .withinTolerance, .differs].contains($0.status) }.count
    }

    /// exact when every compared tensor is, within-tolerance when every one is at least that,
    /// differs otherwise, or when no floating tensor was compared. With `strict`, tensors on one
    /// side only count too (integer buffers that differ are then `differs`).
    public var verdict: Verdict {
        if comparedCount == 0 || tensors.contains(where: { $0.status == .differs }) { return .differs }
        if strict, tensors.contains(where: { $0.status == .onlyInLog || $0.status == .onlyInCheckpoint }) { return .differs }
        return tensors.contains { $0.status == .withinTolerance } ? .withinTolerance : .exact
    }
}

/// A candidate spec tried by `verify --find`, with how close its replay came.
public struct VerifyCandidate: Sendable {
    public var spec: EMASpec
    public var report: VerifyReport
}
