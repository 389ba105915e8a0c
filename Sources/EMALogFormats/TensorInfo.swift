/// One tensor's entry in a safetensors header.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Where its bytes lie, relative to the start of the data buffer.
    public var byteRange: Range<Int>

    public init(name: String, dtype: DType, shape: [Int], byteRange: Range<Int>) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.byteRange = byteRange
    }

    /// Number of elements (1 for a 0-d tensor).
    public var elementCount: Int { shape.reduce(1, *) }

    /// Bytes of data.
    public var byteCount: Int { byteRange.count }

    /// The shape as written in JSON, e.g. `[4, 8]`.
    public var shapeText: String { Self.text(ofShape: shape) }

    /// A shape as written in messages, e.g. `[4, 8]`.
    public static func text(ofShape shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ", ") + "]" }
}

/// A decoded safetensors header: tensors in data order, metadata, and where the data begins.
public struct SafetensorsHeader: Sendable, Equatable {
    /// Tensors sorted by their offset in the data buffer.
    public var tensors: [TensorInfo]
    /// `__metadata__`, string to string.
    public var metadata: [String: String]
    /// Byte offset of the data buffer in the file (8 + header length).
    public var dataOffset: Int
    /// Bytes of the data buffer the header declares.
    public var dataLength: Int

    /// Total file size the header declares.
    public var fileSize: Int { dataOffset + dataLength }
}
