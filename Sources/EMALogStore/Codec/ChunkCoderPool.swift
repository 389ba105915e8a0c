import Synchronization

/// Coders kept between steps, so their scratch buffers (several times a chunk) are not
/// allocated and faulted in again for every step.
enum ChunkCoderPool {
    /// A coder nobody is using.
    ///
    /// `@unchecked Sendable` is safe here because a coder in the pool is used by no thread:
    /// `take()` hands it to exactly one, which owns it until `give(_:)`.
    private struct Idle: @unchecked Sendable {
        let coder: ChunkCoder
    }

    private static let idle = Mutex<[Idle]>([])

    static func take() -> ChunkCoder { idle.withLock { $0.popLast()?.coder } ?? ChunkCoder() }

    static func give(_ coder: ChunkCoder) { idle.withLock { $0.append(Idle(coder: coder)) } }

    /// Frees the idle coders (at the end of an ingest).
    static func drain() { idle.withLock { $0.removeAll() } }
}
