import EMALogStore

/// The units of one replay batch, shared with the workers that decode and apply them.
///
/// `@unchecked Sendable` is safe here because of how `Replay.run` schedules the work: in each
/// round, unit u is handed to exactly one worker, and the next round starts only after
/// `group.wait()` (which orders every worker's writes before it); the calling thread meanwhile
/// fetches the next round's chunks from the store without touching the batch's trajectories. So
/// each trajectory is used by one thread at a time. The workers write the shadows, but each unit
/// writes only its own chunk's elements of them (`range`), disjoint from every other unit's. The
/// units, plans and thread counts are only read. Nothing here touches the store.
final class ReplayBatch: @unchecked Sendable {
    let units: [ReplayUnit]
    let trajectories: [ChunkTrajectory]
    let threads: [Int]

    /// Steps per round: each unit's chunks at `span` consecutive steps of its plan.
    let span: Int

    /// Where each step's sums of squares go, when the replay measures distances.
    let measure: DistanceSums?

    init(units: [ReplayUnit], threads: [Int], span: Int, measure: DistanceSums? = nil) {
        self.units = units
        self.span = span
        self.measure = measure
        trajectories = units.map {
            let trajectory = ChunkTrajectory(tensor: $0.tensor, chunkIndex: $0.chunkIndex)
            trajectory.outputsHeld = span
            return trajectory
        }
        self.threads = threads
    }

    /// Decodes unit `u`'s chunks at the steps of its `round` (`span` steps of its plan, in
    /// order) and applies them to the shadows due there, all steps a block at a time.
    func decodeAndApply(unit u: Int, round: Int, _ chunks: [StoredChunk]) throws {
        let unit = units[u]
        var decoded: [(step: Int, actions: [(ShadowState, ShadowUpdate.Action)], bytes: [UInt8])] = []
        for (k, chunk) in chunks.enumerated() {
            let item = unit.items[round * span + k]
            let bytes = try trajectories[u].decode(chunk, previous: item.previous, threads: threads[u])
            if !item.actions.isEmpty { decoded.append((item.step, item.actions, bytes)) }
        }
        guard !decoded.isEmpty else { return }
        withBuffers(decoded.map(\.bytes)) { buffers in
            let steps = zip(decoded, buffers).map { ($0.actions, $1) }
            if let measure {
                measure.add(steps: decoded.map(\.step)) { sums in
                    ShadowUpdate.apply(steps: steps, tensor: unit.tensor, offset: unit.range.lowerBound,
                                       measuring: (measure.shadowIndex, sums))
                }
            } else {
                ShadowUpdate.apply(steps: steps, tensor: unit.tensor, offset: unit.range.lowerBound)
            }
        }
    }
}

/// Calls `body` with raw buffers over `arrays` (valid during the call only).
private func withBuffers<R>(_ arrays: [[UInt8]], _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
    func nest(_ k: Int, _ acc: inout [UnsafeRawBufferPointer]) -> R {
        if k == arrays.count { return body(acc) }
        return arrays[k].withUnsafeBytes { buffer in
            acc.append(buffer)
            return nest(k + 1, &acc)
        }
    }
    var acc: [UnsafeRawBufferPointer] = []
    acc.reserveCapacity(arrays.count)
    return nest(0, &acc)
}
