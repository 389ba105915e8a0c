#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
import EMALogFormats
import EMALogStore

/// One track's live Float32 shadow: a buffer per floating tensor, and the step it reflects.
///
/// Integer tensors are not held: a shadow's integer tensors are the raw values of its step.
public final class ShadowState {
    public let spec: EMASpec
    /// The step whose update the buffers include (nil before the log's first step).
    public internal(set) var step: Int?
    /// Buffers by tensor id, one Float per element.
    private(set) var buffers: [Int64: UnsafeMutableBufferPointer<Float>] = [:]

    /// An empty shadow for `spec` over the floating tensors of `tensors`. Throws
    /// `QueryError.outOfMemory` when the machine cannot hold it (an allocation sized from a log
    /// never aborts the process).
    public init(spec: EMASpec, tensors: [TensorRecord]) throws(QueryError) {
        self.spec = spec
        for tensor in tensors where tensor.dtype.isFloating {
            let count = max(tensor.elementCount, 1)
            guard let memory = calloc(count, MemoryLayout<Float>.stride) else {
                throw .outOfMemory(what: "the shadow of tensor '\(tensor.name)' (track \(spec.name))", bytes: count * 4)
            }
            // At least one element is allocated so every buffer has a base address; an empty
            // tensor's buffer still counts none.
            buffers[tensor.id] = UnsafeMutableBufferPointer(start: memory.assumingMemoryBound(to: Float.self), count: tensor.elementCount)
        }
    }

    deinit {
        for buffer in buffers.values { free(buffer.baseAddress) }
    }

    /// The Float32 values of `tensor`.
    public func values(of tensorID: Int64) -> UnsafeBufferPointer<Float> {
        guard let buffer = buffers[tensorID] else { preconditionFailure("no shadow for tensor \(tensorID)") }
        return UnsafeBufferPointer(buffer)
    }

    /// The shadow as raw bytes (Float32 little-endian) for snapshots.
    func bytes(of tensor: TensorRecord) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: buffers[tensor.id]!.baseAddress, count: tensor.elementCount * 4)
    }

    func pointer(_ tensorID: Int64) -> UnsafeMutablePointer<Float> { buffers[tensorID]!.baseAddress! }
}

/// Applies steps to several shadows in one pass over each step's bytes.
public enum ShadowUpdate {
    /// What to do with each shadow at a step: start from the step's weights, or apply one update.
    public enum Action {
        case initialize
        case update(EMA.Coefficients)
    }

    /// Feeds one chunk of a floating tensor's bytes to every shadow: `offset` is the chunk's byte
    /// offset within the tensor (a multiple of the element width).
    public static func apply(_ shadows: [(ShadowState, Action)], tensor: TensorRecord, offset: Int,
                             bytes: UnsafeRawBufferPointer) {
        guard let dtype = FloatingDType(rawValue: tensor.dtype.rawValue), bytes.count > 0 else { return }
        precondition(offset % dtype.byteWidth == 0 && bytes.count % dtype.byteWidth == 0, "chunk splits an element")
        let first = offset / dtype.byteWidth
        let count = bytes.count / dtype.byteWidth
        var pointers: [UnsafeMutablePointer<Float>] = []
        var coefficients: [EMA.Coefficients] = []
        for (shadow, action) in shadows {
            switch action {
            case .initialize:
                Widening.widen(bytes.baseAddress!, dtype: dtype, count: count, into: shadow.pointer(tensor.id) + first)
            case let .update(c):
                pointers.append(shadow.pointer(tensor.id) + first)
                coefficients.append(c)
            }
        }
        if !pointers.isEmpty {
            EMA.update(shadows: pointers, toward: bytes.baseAddress!, dtype: dtype, count: count, coefficients: coefficients)
        }
    }

    /// What a shadow does at `step`: start from the step's weights when it has no state yet (or
    /// the step is the log's first), else one update with β_s from its spec.
    public static func action(for spec: EMASpec, hasState: Bool, step: Int, firstStep: Int, previousStep: Int?) -> Action {
        guard hasState, let previousStep else { return .initialize }
        return .update(spec.coefficients(at: StepPosition(step: step, firstStep: firstStep, previousStep: previousStep)))
    }
}
