#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import EMAKernel
import EMALogFormats
public import EMALogStore

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
        apply(steps: steps, tensor: tensor, offset: offset, measuring: nil)
    }

    /// `apply(steps:…)`, and with `measuring` also adds, for each step t, Σθ² of the chunk at
    /// `sums[t * width]` and Σ(shadow − θ)² of shadow k after its action at `sums[t * width + 1 + index[k]]`
    /// (width = 1 + the number of indexed shadows), in Double, each block while it is in cache.
    static func apply(steps: [(actions: [(ShadowState, Action)], bytes: UnsafeRawBufferPointer)],
                      tensor: TensorRecord, offset: Int,
                      measuring: (index: [ObjectIdentifier: Int], sums: UnsafeMutableBufferPointer<Double>)?) {
        guard let dtype = FloatingDType(rawValue: tensor.dtype.rawValue), let count = steps.first?.bytes.count,
              count > 0 else { return }
        if steps.count == 1 && measuring == nil {
            return apply(steps[0].actions, tensor: tensor, offset: offset, bytes: steps[0].bytes)
        }
        let width = 1 + (measuring?.index.count ?? 0)
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
                if let sums = measuring?.sums {
                    for t in steps.indices { sums[t * width] += sumOfSquares(thetas[t], n) }
                }
                for id in order {
                    let plan = plans[id]!
                    let shadow = plan.shadow.pointer(tensor.id) + first + start
                    let k = measuring?.index[id]
                    for (t, action) in plan.actions.enumerated() {
                        switch action {
                        case .initialize: shadow.update(from: thetas[t], count: n)
                        case let .update(c): EMA.update(shadow, toward: thetas[t], count: n, coefficients: c)
                        case .keep: break
                        case nil: continue
                        }
                        if let k, let sums = measuring?.sums {
                            sums[t * width + 1 + k] += sumOfSquaredDifferences(UnsafePointer(shadow), thetas[t], n)
                        }
                    }
                }
                start += n
            }
        }
    }

    /// Σ v² over `n` Floats, in Double (four sums side by side, then added).
    static func sumOfSquares(_ v: UnsafePointer<Float>, _ n: Int) -> Double {
        var a = 0.0, b = 0.0, c = 0.0, d = 0.0
        var i = 0
        while i + 4 <= n {
            let x0 = Double(v[i]), x1 = Double(v[i + 1]), x2 = Double(v[i + 2]), x3 = Double(v[i + 3])
            a += x0 * x0; b += x1 * x1; c += x2 * x2; d += x3 * x3
            i += 4
        }
        while i < n { let x = Double(v[i]); a += x * x; i += 1 }
        return (a + b) + (c + d)
    }

    /// Σ (u − v)² over `n` Floats, each difference and square in Double.
    static func sumOfSquaredDifferences(_ u: UnsafePointer<Float>, _ v: UnsafePointer<Float>, _ n: Int) -> Double {
        var a = 0.0, b = 0.0, c = 0.0, d = 0.0
        var i = 0
        while i + 4 <= n {
            let x0 = Double(u[i]) - Double(v[i]), x1 = Double(u[i + 1]) - Double(v[i + 1])
            let x2 = Double(u[i + 2]) - Double(v[i + 2]), x3 = Double(u[i + 3]) - Double(v[i + 3])
            a += x0 * x0; b += x1 * x1; c += x2 * x2; d += x3 * x3
            i += 4
        }
        while i < n { let x = Double(u[i]) - Double(v[i]); a += x * x; i += 1 }
        return (a + b) + (c + d)
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
