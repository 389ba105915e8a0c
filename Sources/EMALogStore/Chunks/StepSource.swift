import Dispatch
import EMALogFormats
import Foundation
import Synchronization

/// A step's tensor bytes as an appender reads them: a mapped safetensors file, or a buffer.
public protocol StepSource: AnyObject {
    /// Calls `body` with the bytes of each of `tensors` (the log's tensor set, in its order); the
    /// buffers are valid only during the call.
    func withBytes<R>(of tensors: [TensorRecord], _ body: ([UnsafeRawBufferPointer]) throws -> R) throws -> R
    /// `range` of tensor `tensors[index]`'s bytes is about to be read (a mapped file maps its pages
    /// in one call).
    func willRead(tensor index: Int, _ range: Range<Int>)
    /// `range` of tensor `tensors[index]`'s bytes is no longer needed (a mapped file gives its
    /// pages back, so memory stays at a few chunks whatever the step's size).
    func release(tensor index: Int, _ range: Range<Int>)
    /// Throws when the bytes changed since they were read (a file truncated or rewritten
    /// meanwhile): nothing read from them may commit.
    func checkUnchanged() throws
    /// The encoder read chunk `chunk` of tensor `tensors[index]` (to store it, or to predict the
    /// next step's chunk from it) and found XXH64 `checksum`. Throws when that differs from what
    /// the source's first read of these bytes found: they changed in between (memory discarded or
    /// reused, a file rewritten in place), and nothing derived from them may commit.
    func confirm(tensor index: Int, chunk: Int, checksum: UInt64) throws
}
