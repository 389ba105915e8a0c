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

    /// Feeds one chunk at several consecutive steps (oldest first, each with its shadows' actions)
    /// to the shadows, a block of elements at a time: each shadow's block takes all the steps
    /// while it is in cache, so a sweep of many shadows reads and writes each shadow once per call
    /// instead of once per step. Every element sees the same operations in the same order as
    /// step-by-step `apply`, so the results are bit-identical.
    public static func apply(steps: [(actions: [(ShadowState, Action)], bytes: UnsafeRawBufferPointer)],
                             tensor: TensorRecord, offset: Int) {
        guard let dtype = FloatingDType(rawValue: tensor.dtype.rawValue), let count = steps.first?.bytes.count,
              count > 0 else { return }
        if steps.count == 1 { return apply(steps[0].actions, tensor: tensor, offset: offset, bytes: steps[0].bytes) }
        precondition(offset % dtype.byteWidth == 0 && count % dtype.byteWidth == 0, "chunk splits an element")
        precondition(steps.allSatisfy { $0.bytes.count == count }, "steps of one chunk differ in size")
        let first = offset / dtype.byteWidth
        let elements = count / dtype.byteWidth
        // Per shadow (in order of first appearance), its action at each step (nil: not due).
        var order: [ObjectIdentifier] = []
        var plans: [ObjectIdentifier: (shadow: ShadowState, actions: [Action?])] = [:]
        for (t, step) in steps.enumerated() {
            for (shadow, action) in step.actions {
                let id = ObjectIdentifier(shadow)
                if plans[id] == nil {
                    order.append(id)
                    plans[id] = (shadow, [Action?](repeating: nil, count: steps.count))
                }
                plans[id]!.actions[t] = action
            }
        }
        let block = EMA.blockSize
        withUnsafeTemporaryAllocation(of: Float.self, capacity: dtype == .f32 ? 0 : block * steps.count) { widened in
            var start = 0
            while start < elements {
                let n = min(block, elements - start)
                // Each step's block as Float32: in place for F32, widened once for the others.
                let thetas: [UnsafePointer<Float>] = steps.indices.map { t in
                    let source = steps[t].bytes.baseAddress! + start * dtype.byteWidth
                    if dtype == .f32 { return source.assumingMemoryBound(to: Float.self) }
                    let target = widened.baseAddress! + t * block
                    Widening.widen(source, dtype: dtype, count: n, into: target)
                    return UnsafePointer(target)
                }
                for id in order {
                    let plan = plans[id]!
                    let shadow = plan.shadow.pointer(tensor.id) + first + start
                    for (t, action) in plan.actions.enumerated() {
                        switch action {
                        case .initialize: shadow.update(from: thetas[t], count: n)
                        case let .update(c): EMA.update(shadow, toward: thetas[t], count: n, coefficients: c)
                        case .keep, nil: continue
                        }
                    }
                }
                start += n
            }
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
