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

    /// Advances every shadow to `target`; each starts where it stands (its `step`, or before the
    /// first step). Chunk-major: each chunk of each tensor is decoded step after step and applied
    /// to the shadows' matching slice, so memory stays at the shadows plus a few chunks.
    /// `progress` gets (chunks done, chunks in all).
    public func advance(_ shadows: [ShadowState], to target: Int, progress: (Int, Int) -> Void = { _, _ in }) throws {
        guard let firstStep = steps.first else { return }
        var current = shadows.map(\.step)
        let begin = current.map { $0 ?? Int.min }.min() ?? target
        var previous = begin == Int.min ? nil : step(before: begin + 1)
        var plan: [(step: Int, previous: Int?, actions: [(ShadowState, ShadowUpdate.Action)])] = []
        for s in steps where s > begin && s <= target {
            var actions: [(ShadowState, ShadowUpdate.Action)] = []
            for (k, shadow) in shadows.enumerated() where (current[k] ?? Int.min) < s {
                actions.append((shadow, ShadowUpdate.action(for: shadow.spec, hasState: current[k] != nil, step: s,
                                                            firstStep: firstStep, previousStep: previous)))
                current[k] = s
            }
            plan.append((s, previous, actions))
            previous = s
        }
        let total = floating.reduce(0) { $0 + reader.chunkRanges(of: $1).count }
        var done = 0
        for tensor in floating {
            for (index, range) in reader.chunkRanges(of: tensor).enumerated() {
                defer { done += 1; progress(done, total) }
                let trajectory = ChunkTrajectory(tensor: tensor, chunkIndex: index)
                for item in plan {
                    let bytes = try trajectory.bytes(at: item.step, previous: item.previous, reader)
                    bytes.withUnsafeBytes { ShadowUpdate.apply(item.actions, tensor: tensor, offset: range.lowerBound, bytes: $0) }
                }
            }
        }
        for (k, shadow) in shadows.enumerated() { shadow.step = current[k] }
    }
}
