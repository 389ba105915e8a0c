#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Memory holding one step frame read from a stream (`ingest -`): anonymous pages, written once by
/// `fill` and read-only afterwards, for as long as the log needs the step (it and the two steps
/// after it, whose residuals are computed against it).
///
/// A frame buffer is not a mapped file. A mapped file's pages can be given back and fault in again
/// from the file (`MappedFile.release`); a frame's pages have no file behind them, and giving them
/// back (`madvise(MADV_DONTNEED)`) would turn them into zeros. So this type has no way to give
/// pages back at all: its memory lives, unchanged, until it is deinitialised.
///
/// `@unchecked Sendable`: the bytes are written only inside `init` and never after; the memory is
/// unmapped only in deinit.
final class FrameBuffer: @unchecked Sendable {
    /// The frame's bytes (empty for an empty frame).
    let bytes: UnsafeRawBufferPointer

    /// `count` bytes of fresh memory that `fill` writes once. Throws `IngestError.unreadable`
    /// (named `label`) when the memory cannot be had, and whatever `fill` throws.
    init(label: String, count: Int, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        guard count > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, count, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), base != MAP_FAILED else {
            throw IngestError.unreadable(path: label, reason: "cannot allocate \(count) bytes: \(String(cString: strerror(errno)))")
        }
        bytes = UnsafeRawBufferPointer(start: base, count: count)
        try fill(UnsafeMutableRawBufferPointer(start: base, count: count))  // on a throw, deinit unmaps it
        // Read-only from here: a stray write (of ours) faults instead of changing a stored step.
        mprotect(base, count, PROT_READ)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}
