public import EMALogFormats

/// Where a blob's chunks live: a raw step or a snapshot.
public enum ChunkOwner: Sendable, Hashable {
    case step(Int)
    case snapshot(Int64)

    public var isSnapshot: Bool {
        if case .snapshot = self { return true }
        return false
    }

    /// The bytes `tensor` takes for this owner: its own dtype in a raw step, Float32 in a snapshot
    /// (a shadow is kept in Float32 whatever the parameter's dtype).
    public func byteCount(of tensor: TensorRecord) -> Int {
        isSnapshot ? tensor.elementCount * 4 : tensor.byteCount
    }

    /// The dtype the owner's chunks hold for `tensor`.
    public func dtype(of tensor: TensorRecord) -> DType { isSnapshot ? .f32 : tensor.dtype }

    /// "at step 3", "in snapshot 2", for messages.
    public var label: String {
        switch self {
        case let .step(s): "at step \(s)"
        case let .snapshot(id): "in snapshot \(id)"
        }
    }
}
