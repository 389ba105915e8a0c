public import EMALogFormats

/// A tensor of the log's tensor set.
public struct TensorRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Order of the tensor's data in the first step's file.
    public var position: Int

    public init(id: Int64, name: String, dtype: DType, shape: [Int], position: Int) {
        self.id = id
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.position = position
    }

    /// A record as read back from a backend, validated before anything is sized from it: a known
    /// dtype, a shape (nil: the stored text did not parse) whose element and byte counts fit, as
    /// the dtype and as a Float32 shadow, equal to the stored element count (a hand-edited shape
    /// such as [1e12] would otherwise size a shadow of terabytes). `shapeText` is the shape as the
    /// backend stores it, for messages. Backends also check that the first step's chunks hold
    /// exactly these bytes.
    public init(validating id: Int64, name: String, dtype dtypeName: String, shape: [Int]?, shapeText: String,
                elementCount stored: Int, position: Int) throws(StoreError) {
        guard let dtype = DType(rawValue: dtypeName) else {
            throw .inconsistent("tensor '\(name)' has unknown dtype '\(dtypeName.prefix(40))'")
        }
        guard let shape, shape.allSatisfy({ $0 >= 0 }), let count = Self.elementCount(shape),
              count.multipliedReportingOverflow(by: max(4, dtype.byteWidth)).overflow == false else {
            throw .inconsistent("tensor '\(name)' has an invalid shape '\(shapeText.prefix(80))'")
        }
        guard count == stored else {
            throw .inconsistent("tensor '\(name)' has shape \(shapeText) (\(count) elements) but its element count says \(stored)")
        }
        self.init(id: id, name: name, dtype: dtype, shape: shape, position: position)
    }

    /// Checks that the first stored step (`first`) holds each of `tensors`' bytes: `held` is, per
    /// tensor id, how many chunks that step has and their raw bytes, as a backend counted them.
    /// `store` names the log or run in the message.
    public static func checkFirstStep(_ first: Int, holds tensors: [TensorRecord], held: [Int64: (chunks: Int, bytes: Int)],
                                      layout: ChunkLayout, store: String) throws(StoreError) {
        for tensor in tensors {
            let expected = layout.count(of: tensor.byteCount)
            guard let found = held[tensor.id], found.chunks == expected, found.bytes == tensor.byteCount else {
                let found = held[tensor.id].map { "\($0.chunks) chunks of \($0.bytes) bytes" } ?? "no chunks"
                throw .inconsistent("tensor '\(tensor.name)' (\(tensor.dtype.rawValue) \(tensor.shape)) needs "
                    + "\(expected) chunks of \(tensor.byteCount) bytes at the first step \(first), the \(store) holds \(found)")
            }
        }
    }

    /// The product of `shape`, nil when it overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    public var elementCount: Int { shape.reduce(1, *) }
    public var byteCount: Int { elementCount * dtype.byteWidth }
    public var layout: TensorLayout { TensorLayout(name: name, dtype: dtype, shape: shape) }
}
