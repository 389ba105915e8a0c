public import EMAKernel
import EMALogFormats
public import EMALogStore

/// Shadow weights at a step: Float32 values of the floating tensors, raw bytes of the others.
public struct ShadowResult {
    public var step: Int
    public var spec: EMASpec
    /// The stored track used, nil for a post-hoc computation.
    public var trackName: String?
    /// The snapshot replay started from (nil: from the first step).
    public var startedFrom: Int?
    public var tensors: [TensorRecord]
    public var logID: String
    /// The log's path (every rank's, for a sharded training): outputs never overwrite them.
    let logPaths: [String]
    let state: ShadowState
    let integers: [Int64: [UInt8]]
    /// For a shadow made by EDM2's post-hoc synthesis: the fit and the snapshots it weighed.
    public var synthesis: Synthesis?

    /// How a synthesised shadow was made.
    public struct Synthesis: Sendable {
        /// ‖Σ xᵢ pᵢ − target‖ / ‖target‖ over the EMA profiles' weights.
        public var relativeError: Double
        public var inputs: [Input]

        public struct Input: Sendable {
            public var track: String
            public var step: Int
            public var coefficient: Double
        }
    }

    init(step: Int, spec: EMASpec, trackName: String?, startedFrom: Int?, tensors: [TensorRecord], logID: String, logPaths: [String],
         state: ShadowState, integers: [Int64: [UInt8]]) {
        self.step = step
        self.spec = spec
        self.trackName = trackName
        self.startedFrom = startedFrom
        self.tensors = tensors
        self.logID = logID
        self.logPaths = logPaths
        self.state = state
        self.integers = integers
    }

    /// `__metadata__` written with the shadow (a synthesis adds `synthesis`, `synthesis_error` and
    /// `synthesis_inputs`: track@step:coefficient, comma-separated).
    public var metadata: [String: String] {
        var m = ["step": String(step), "ema": spec.canonical, "log": logID, "emalog_version": EMALogVersion.current]
        m["track"] = trackName ?? spec.name
        if let synthesis {
            m["synthesis"] = "edm2-posthoc"
            m["synthesis_error"] = String(synthesis.relativeError)
            m["synthesis_inputs"] = synthesis.inputs.map { "\($0.track)@\($0.step):\($0.coefficient)" }.joined(separator: ",")
        }
        return m
    }

    /// Calls `body` with the Float32 values of floating tensor `tensor` (valid during the call).
    public func withValues<R>(of tensor: TensorRecord, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try state.withValues(of: tensor.id, body)
    }

    /// Raw bytes of an integer tensor at the step.
    public func integerBytes(of tensor: TensorRecord) -> [UInt8] { integers[tensor.id] ?? [] }
}
