import EMALogFormats

/// A chunk's description as stored beside its payload.
public struct ChunkHeader: Sendable, Equatable {
    public var index: Int
    public var codec: Codec
    /// The chunk's size once decoded.
    public var rawSize: Int
    /// XXH64 of the decoded bytes.
    public var checksum: UInt64

    public init(index: Int, codec: Codec, rawSize: Int, checksum: UInt64) {
        self.index = index
        self.codec = codec
        self.rawSize = rawSize
        self.checksum = checksum
    }
}
