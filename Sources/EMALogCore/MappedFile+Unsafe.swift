#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only memory map of a whole file; large tensors are read from it without copies.
///
/// `@unchecked Sendable`: the mapping is immutable (PROT_READ) and lives until deinit.
public final class MappedFile: @unchecked Sendable {
    /// The file's path.
    public let path: String
    /// The mapped bytes (empty for an empty file).
    public let bytes: UnsafeRawBufferPointer

    /// Maps `path`, which must be a regular file (see `RegularFile`: a FIFO, folder or device is
    /// refused with `IngestError.notRegularFile`, never opened in a way that blocks; a symbolic link
    /// to a regular file is followed). Throws `IngestError.inputNotFound` when it does not exist,
    /// `IngestError.unreadable` when it cannot be opened or mapped.
    public init(path: String) throws(IngestError) {
        self.path = path
        let (fd, info) = try RegularFile.openForReading(path)
        defer { close(fd) }
        let size = Int(info.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw .unreadable(path: path, reason: "cannot map: \(String(cString: strerror(errno)))")
        }
        madvise(base, size, MADV_SEQUENTIAL)
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    /// Drops the mapped pages wholly inside `range` from this process (they stay in the page cache
    /// and fault back in if read again), so a pass over a large file does not grow the resident set.
    /// Files up to `keepResident` stay mapped: an ingest holds at most three of them (a step and
    /// its two predecessors), and faulting their pages in again for each pass cost more than the
    /// passes themselves.
    public func release(_ range: Range<Int>) {
        guard bytes.count > Self.keepResident, let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (range.lowerBound + page - 1) / page * page
        let end = min(range.upperBound, bytes.count) / page * page
        guard end > start else { return }
        madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED)
    }

    static let keepResident = 64 << 20

    /// Maps the pages of `range` in one call (MADV_POPULATE_READ, Linux 5.14+; elsewhere nothing
    /// happens and they fault in as they are read): a pass over a window of a large file otherwise
    /// takes one page fault per 4 KiB.
    public func prefault(_ range: Range<Int>) {
        #if os(Linux)
        guard bytes.count > Self.keepResident, let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(range.upperBound, bytes.count)
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, 22 /* MADV_POPULATE_READ */)
        #endif
    }

    /// The bytes in `range`.
    public subscript(range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "range \(range) outside \(path)")
        return UnsafeRawBufferPointer(rebasing: bytes[range])
    }
}
