import EMALogFormats

/// How a tensor's bytes are cut into chunks: chunk k holds bytes [k·chunkBytes, (k+1)·chunkBytes)
/// of the tensor, the last one what remains; an empty tensor is one empty chunk. Raw steps and
/// snapshots alike; the one place chunk bounds are computed.
///
/// A chunk is the unit of encoding, of checksums and of the residual chain: chunk k of a step is
/// predicted from chunk k of the steps before it, so its bounds must not change within a log
/// (the size is stored in the log when it is created).
public struct ChunkLayout: Sendable, Equatable {
    /// Largest chunk, in bytes: a multiple of 8 (whole elements of every dtype), at most 64 MiB.
    public let chunkBytes: Int

    public init(chunkBytes: Int) {
        precondition(Self.validChunkBytes.contains(chunkBytes) && chunkBytes % 8 == 0, "chunk size \(chunkBytes)")
        self.chunkBytes = chunkBytes
    }

    /// The chunk sizes a log may declare (new logs use `defaultChunkBytes`; tests smaller ones).
    public static let validChunkBytes = 8...(64 << 20)
    /// 16 MiB keeps an ingest's working set small and gives replays chunks to share between cores.
    public static let defaultChunkBytes = 16 << 20

    /// How many chunks `total` bytes are stored in (one for an empty tensor).
    public func count(of total: Int) -> Int {
        total == 0 ? 1 : (total - 1) / chunkBytes + 1
    }

    /// The byte range of chunk `index` within `total` bytes.
    public func range(_ index: Int, of total: Int) -> Range<Int> {
        let start = index * chunkBytes
        return start..<min(start + chunkBytes, total)
    }

    /// The byte range chunks `chunks` cover within `total` bytes.
    public func span(_ chunks: Range<Int>, of total: Int) -> Range<Int> {
        guard !chunks.isEmpty else { return 0..<0 }
        return range(chunks.lowerBound, of: total).lowerBound..<range(chunks.upperBound - 1, of: total).upperBound
    }

    /// Every chunk's byte range within `total` bytes, in order.
    public func ranges(of total: Int) -> [Range<Int>] {
        (0..<count(of: total)).map { range($0, of: total) }
    }

    /// `tensor`'s chunk ranges in a raw step.
    public func ranges(of tensor: TensorRecord) -> [Range<Int>] { ranges(of: tensor.byteCount) }
}
