import EMALogFormats

/// Reads whole steps in increasing order, decoding each chunk from the one before (one decode per
/// chunk per step) instead of walking back to its keyframe every time.
public final class SequentialStepReader {
    private var trajectories: [Int64: [ChunkTrajectory]] = [:]

    public init() {}

    /// Calls `body` with each decoded chunk of `tensor` at `step`; `previous` is the stored step
    /// just before it. Any order works; increasing order is the fast one.
    public func forEachChunk(of tensor: TensorRecord, step: Int, previous: Int?, _ reader: any LogReader,
                             _ body: (_ offset: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void) throws {
        let ranges = reader.layout.ranges(of: tensor)
        // Decoded steps are kept (about three per chunk) only for tensors up to `keptBytes`: a
        // larger one walks back to its keyframe chunk by chunk, so memory stays at a few chunks.
        let keep = tensor.byteCount <= Self.keptBytes
        if keep && trajectories[tensor.id] == nil {
            trajectories[tensor.id] = ranges.indices.map { ChunkTrajectory(tensor: tensor, chunkIndex: $0) }
        }
        for (index, range) in ranges.enumerated() {
            let trajectory = keep ? trajectories[tensor.id]![index] : ChunkTrajectory(tensor: tensor, chunkIndex: index)
            let bytes = try trajectory.bytes(at: step, previous: previous, reader)
            guard bytes.count == range.count else {
                throw StoreError.inconsistent("tensor '\(tensor.name)' at step \(step): chunk \(index) holds \(bytes.count) bytes, expected \(range.count)")
            }
            try bytes.withUnsafeBytes { try body(range.lowerBound, $0) }
        }
        if try reader.chunkCount(of: tensor, step: step) != ranges.count {
            throw StoreError.inconsistent("tensor '\(tensor.name)' at step \(step) has extra chunks")
        }
    }

    /// Forgets decoded values (after the stored steps changed).
    public func reset() { trajectories.removeAll() }

    static let keptBytes = 64 << 20
}
