#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-for-byte comparison of stored chunks with other memory.
enum ByteCompare {
    /// True when the `a.count` bytes at `b` equal `a`.
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawPointer) -> Bool {
        a.count == 0 || memcmp(a.baseAddress!, b, a.count) == 0
    }
}
