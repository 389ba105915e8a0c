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
    /// The log's path: outputs never overwrite it.
    let logPath: String
    let state: ShadowState
    let integers: [Int64: [UInt8]]

    /// `__metadata__` written with the shadow.
    public var metadata: [String: String] {
        var m = ["step": String(step), "ema": spec.canonical, "log": logID, "emalog_version": EMALogVersion.current]
        m["track"] = trackName ?? spec.name
        return m
    }

    /// Calls `body` with the Float32 values of floating tensor `tensor` (valid during the call).
    public func withValues<R>(of tensor: TensorRecord, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try state.withValues(of: tensor.id, body)
    }

    /// Raw bytes of an integer tensor at the step.
    public func integerBytes(of tensor: TensorRecord) -> [UInt8] { integers[tensor.id] ?? [] }
}
