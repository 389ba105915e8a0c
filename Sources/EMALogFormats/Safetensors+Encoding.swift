/// A tensor to be written: its layout; the bytes are written by the caller in this order.
public struct TensorLayout: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]

    public init(name: String, dtype: DType, shape: [Int]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
    }

    /// Bytes of data.
    public var byteCount: Int { shape.reduce(1, *) * dtype.byteWidth }
}

extension Safetensors {
    /// The 8-byte length and JSON header for `tensors` laid out back to back in the given order.
    ///
    /// The header is padded with spaces to a multiple of 8 bytes, as the reference writer does,
    /// so the data that follows is aligned.
    public static func encodeHeader(_ tensors: [TensorLayout], metadata: [String: String]) -> [UInt8] {
        var json = JSONWriter()
        json.object { json in
            if !metadata.isEmpty { json.field("__metadata__", metadata) }
            var offset = 0
            for tensor in tensors {
                let end = offset + tensor.byteCount
                json.object(tensor.name) { json in
                    json.field("dtype", tensor.dtype.rawValue)
                    json.field("shape", tensor.shape)
                    json.field("data_offsets", [offset, end])
                }
                offset = end
            }
        }
        var body = Array(json.text.utf8)
        while (body.count + 8) % 8 != 0 { body.append(0x20) }
        var out = [UInt8]()
        out.reserveCapacity(8 + body.count)
        withUnsafeBytes(of: UInt64(body.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: body)
        return out
    }
}
