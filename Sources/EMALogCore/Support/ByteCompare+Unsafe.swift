#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte-for-byte comparison of stored chunks with other memory.
enum ByteCompare {
    /// True when `a` and `b` hold the same bytes.
    static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    /// The index of the first `width`-byte element where `a` and `b` differ (as bit patterns), nil
    /// when they are equal.
    static func firstDifference(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, width: Int) -> Int? {
        precondition(a.count == b.count && width > 0)
        guard !equal(a, b) else { return nil }
        for i in 0..<(a.count / width) where memcmp(a.baseAddress! + i * width, b.baseAddress! + i * width, width) != 0 {
            return i
        }
        return nil
    }
}
