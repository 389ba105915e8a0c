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

    init(units: [ReplayUnit], threads: [Int]) {
        self.units = units
        trajectories = units.map { ChunkTrajectory(tensor: $0.tensor, chunkIndex: $0.chunkIndex) }
        self.threads = threads
    }

    /// Decodes unit `u`'s chunk at its `round`-th step and applies it to the shadows due there.
    func decodeAndApply(unit u: Int, round: Int, _ chunk: StoredChunk) throws {
        let unit = units[u]
        let item = unit.items[round]
        let bytes = try trajectories[u].decode(chunk, previous: item.previous, threads: threads[u])
        if !item.actions.isEmpty {
            bytes.withUnsafeBytes { ShadowUpdate.apply(item.actions, tensor: unit.tensor, offset: unit.range.lowerBound, bytes: $0) }
        }
    }
}
