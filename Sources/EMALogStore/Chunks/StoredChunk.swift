import EMALogFormats

/// A stored chunk as read back, validated before anything is sized from it.
public struct StoredChunk: Sendable {
    public let owner: ChunkOwner
    public let header: ChunkHeader
    public let payload: [UInt8]

    /// Validates a stored chunk of `tensor`: a known codec, an index within the tensor's chunks, and
    /// the raw size that chunk must have (a hand-edited size would otherwise size an allocation).
    public init(owner: ChunkOwner, tensor: TensorRecord, layout: ChunkLayout, codec name: String, index: Int,
                rawSize: Int, checksum: UInt64, payload: [UInt8]) throws(StoreError) {
        let what = "tensor '\(tensor.name)' \(owner.label)"
        guard let codec = Codec(rawValue: name) else {
            throw .inconsistent("\(what): unknown codec '\(name.prefix(40))' (written by a newer emalog?)")
        }
        let total = owner.byteCount(of: tensor)
        let count = layout.count(of: total)
        guard index >= 0 && index < count else {
            throw .inconsistent("\(what): chunk index \(index) is outside its \(count) chunks")
        }
        let expected = layout.range(index, of: total).count
        guard rawSize == expected else {
            throw .inconsistent("\(what): chunk \(index) claims \(rawSize) bytes, its place in the tensor holds \(expected)")
        }
        if owner.isSnapshot && codec.predecessors > 0 {
            throw .inconsistent("\(what): a snapshot chunk cannot be a delta")
        }
        self.owner = owner
        header = ChunkHeader(index: index, codec: codec, rawSize: rawSize, checksum: checksum)
        self.payload = payload
    }

    /// The step of a raw chunk (nil for a snapshot's).
    public var step: Int? {
        if case let .step(s) = owner { return s }
        return nil
    }
}
