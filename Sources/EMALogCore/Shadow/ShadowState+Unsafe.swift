#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import EMAKernel
import EMALogFormats
public import EMALogStore

/// One track's live Float32 shadow: a buffer per floating tensor, and the step it reflects.
///
/// Integer tensors are not held: a shadow's integer tensors are the raw values of its step.
public final class ShadowState {
    public let spec: EMASpec
    /// The step whose update the buffers include (nil before the log's first step).
    public internal(set) var step: Int?
    /// Buffers by tensor id, one Float per element.
    private(set) var buffers: [Int64: UnsafeMutableBufferPointer<Float>] = [:]

    /// An empty shadow for `spec` over the floating tensors of `tensors`. Throws
    /// `QueryError.outOfMemory` when the machine cannot hold it (an allocation sized from a log
    /// never aborts the process).
    public init(spec: EMASpec, tensors: [TensorRecord]) throws(QueryError) {
        self.spec = spec
        for tensor in tensors where tensor.dtype.isFloating {
            let count = max(tensor.elementCount, 1)
            guard let memory = calloc(count, MemoryLayout<Float>.stride) else {
                throw .outOfMemory(what: "the shadow of tensor '\(tensor.name)' (track \(spec.name))", bytes: count * 4)
            }
            // At least one element is allocated so every buffer has a base address; an empty
            // tensor's buffer still counts none.
            buffers[tensor.id] = UnsafeMutableBufferPointer(start: memory.assumingMemoryBound(to: Float.self), count: tensor.elementCount)
        }
    }

    deinit {
        for buffer in buffers.values { free(buffer.baseAddress) }
    }

    /// Calls `body` with the Float32 values of floating tensor `tensorID` (valid during the call).
    public func withValues<R>(of tensorID: Int64, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        guard let buffer = buffers[tensorID] else { preconditionFailure("no shadow for tensor \(tensorID)") }
        return try body(UnsafeBufferPointer(buffer))
    }

    /// Calls `body` with the shadow of `tensor` as raw bytes (Float32 little-endian), for snapshots.
    func withBytes<R>(of tensor: TensorRecord, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withValues(of: tensor.id) { try body(UnsafeRawBufferPointer($0)) }
    }

    /// Calls `body` with the shadow of `tensor` as writable raw bytes (a snapshot loaded into it).
    func withMutableBytes<R>(of tensor: TensorRecord, _ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        guard let buffer = buffers[tensor.id] else { preconditionFailure("no shadow for tensor \(tensor.name)") }
        return try body(UnsafeMutableRawBufferPointer(buffer))
    }

    /// The start of `tensorID`'s buffer, for the update kernel (`ShadowUpdate+Unsafe.swift`), which
    /// writes `[offset, offset + count)` of it for a chunk of that tensor.
    func pointer(_ tensorID: Int64) -> UnsafeMutablePointer<Float> { buffers[tensorID]!.baseAddress! }
}
