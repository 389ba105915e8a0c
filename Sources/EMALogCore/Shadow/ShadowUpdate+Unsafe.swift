#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
import EMALogFormats
import EMALogStore

/// Applies steps to several shadows in one pass over each step's bytes.
public enum ShadowUpdate {
    /// What to do with each shadow at a step: start from the step's weights, apply one update, or
    /// leave it as it is (a step its spec's `every` skips).
    public enum Action {
        case initialize
        case update(EMA.Coefficients)
        case keep
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
            case .keep:
                continue
            }
        }
        if !pointers.isEmpty {
            EMA.update(shadows: pointers, toward: bytes.baseAddress!, dtype: dtype, count: count, coefficients: coefficients)
        }
    }

    /// What a shadow does at `step`: start from the step's weights when it has no state yet (or
    /// the step is the log's first), else one update with β_s from its spec, or none at a step its
    /// spec skips.
    public static func action(for spec: EMASpec, hasState: Bool, step: Int, firstStep: Int, previousStep: Int?) -> Action {
        guard hasState, let previousStep else { return .initialize }
        let position = StepPosition(step: step, firstStep: firstStep, previousStep: previousStep)
        return spec.coefficients(at: position).map(Action.update) ?? .keep
    }
}
