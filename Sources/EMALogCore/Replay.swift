import EMAKernel
import EMALogFormats
import EMALogStore

/// Re-derives shadows from the log: load a snapshot (or start at the first step), then replay raw steps.
public struct Replay {
    let reader: StoreReader
    let tensors: [TensorRecord]
    let floating: [TensorRecord]
    /// Every stored step, ascending.
    let steps: [Int]

    public init(reader: StoreReader) throws {
        self.reader = reader
        tensors = try reader.tensors()
        floating = tensors.filter { $0.dtype.isFloating }
        steps = try reader.stepNumbers()
    }

    /// The stored step just before `step`, if any (binary search).
    public func step(before step: Int) -> Int? {
        var lo = 0, hi = steps.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if steps[mid] < step { lo = mid + 1 } else { hi = mid }
        }
        return lo > 0 ? steps[lo - 1] : nil
    }

    /// Loads a snapshot's Float32 bytes into `shadow`.
    public func load(_ snapshot: SnapshotRecord, into shadow: ShadowState) throws {
        for tensor in floating {
            let buffer = UnsafeMutableRawBufferPointer(start: shadow.pointer(tensor.id), count: tensor.elementCount * 4)
            try reader.readTensor(tensor, in: .snapshot(snapshot.id), into: buffer)
        }
        shadow.step = snapshot.step
    }

    /// Advances every shadow to `target` in one pass per step; each shadow starts where it stands
    /// (its `step`, or nothing). `visit` is called after each step with the shadows that moved.
    public func advance(_ shadows: [ShadowState], to target: Int,
                        visit: (_ step: Int, _ moved: [ShadowState]) throws -> Void = { _, _ in }) throws {
        guard let firstStep = steps.first else { return }
        let start = shadows.map { $0.step ?? Int.min }.min() ?? target
        var previous: Int? = steps.last(where: { $0 <= start && start != Int.min })
        for step in steps where step > start && step <= target {
            let actions = shadows.compactMap { shadow -> (ShadowState, ShadowUpdate.Action)? in
                if let at = shadow.step, at >= step { return nil }
                return (shadow, ShadowUpdate.action(for: shadow, step: step, firstStep: firstStep, previousStep: previous))
            }
            for tensor in floating {
                try reader.forEachChunk(of: tensor, in: .step(step)) { offset, bytes in
                    ShadowUpdate.apply(actions, tensor: tensor, offset: offset, bytes: bytes)
                }
            }
            for (shadow, _) in actions { shadow.step = step }
            previous = step
            try visit(step, actions.map(\.0))
        }
    }
}
