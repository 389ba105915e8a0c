#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMALogCoreC

/// A read-only memory map of a whole file; large tensors are read from it without copies.
///
/// A file truncated while it is mapped (a trainer saving the step again in place) would kill the
/// process with SIGBUS at the first read past its new end. The mapping is guarded instead
/// (EMALogCoreC's mapping guard): such a read sees zeros and marks the mapping damaged, and
/// `change()` reports it, along with any change of the file's size or modification time since it
/// was opened. Callers check `change()` after reading what they use and before storing anything
/// derived from it; reads themselves pay nothing for this.
///
/// `@unchecked Sendable`: the mapping is immutable (PROT_READ; the guard only ever replaces pages
/// past the file's end with zeros) and lives until deinit, as does the descriptor kept for `fstat`.
final class MappedFile: @unchecked Sendable {
    /// The file's path.
    let path: String
    /// The mapped bytes (empty for an empty file).
    let bytes: UnsafeRawBufferPointer
    /// The open file (kept to `fstat` the same inode in `change()`), or -1 for an empty file.
    private let fd: Int32
    /// Size and modification time when opened.
    private let opened: (size: Int, mtime: timespec)
    /// The file that was opened (device and inode).
    let identity: FileIdentity
    /// The mapping guard's slot (-1: not guarded).
    private let guardSlot: Int32

    /// Maps `path`, which must be a regular file (see `RegularFile`: a FIFO, folder or device is
    /// refused with `IngestError.notRegularFile`, never opened in a way that blocks; a symbolic link
    /// to a regular file is followed). Throws `IngestError.inputNotFound` when it does not exist,
    /// `IngestError.unreadable` when it cannot be opened or mapped.
    init(path: String) throws(IngestError) {
        self.path = path
        let (fd, info) = try RegularFile.openForReading(path)
        let size = Int(info.st_size)
        opened = (size, info.modified)
        identity = FileIdentity(info)
        guard size > 0 else {
            close(fd)
            self.fd = -1
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            guardSlot = -1
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .unreadable(path: path, reason: "cannot map: \(reason)")
        }
        madvise(base, size, MADV_SEQUENTIAL)
        self.fd = fd
        bytes = UnsafeRawBufferPointer(start: base, count: size)
        guardSlot = emalog_mapping_guard_register(base, size)
    }

    deinit {
        emalog_mapping_guard_unregister(guardSlot)
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
        if fd >= 0 { close(fd) }
    }

    /// How the file changed since it was opened, or nil when the mapped bytes are still the file's:
    /// a read past its end faulted (it was truncated), or its size or modification time differ.
    func change() -> String? {
        guard fd >= 0 else { return nil }
        var now = stat()
        let known = fstat(fd, &now) == 0
        let size = known ? Int(now.st_size) : opened.size
        if wasCutShort {
            return "it was cut short: \(opened.size) bytes when opened, \(size) now"
        }
        guard known else { return nil }
        if size != opened.size { return "its size went from \(opened.size) to \(size) bytes" }
        if now.modified.tv_sec != opened.mtime.tv_sec || now.modified.tv_nsec != opened.mtime.tv_nsec {
            return "it was written to (its modification time changed)"
        }
        return nil
    }

    /// True when a read past the file's end faulted: it was truncated while mapped, and what was
    /// read past the new end are zeros.
    var wasCutShort: Bool { emalog_mapping_guard_damaged(guardSlot) != 0 }

    /// Throws `IngestError.changedWhileReading` when `change()` finds the file changed.
    func checkUnchanged() throws(IngestError) {
        if let detail = change() { throw .changedWhileReading(path: path, detail: detail) }
    }

    /// Drops the mapped pages wholly inside `range` from this process (they stay in the page cache
    /// and fault back in if read again), so a pass over a large file does not grow the resident set.
    /// Files up to `keepResident` stay mapped: an ingest holds at most three of them (a step and
    /// its two predecessors), and faulting their pages in again for each pass cost more than the
    /// passes themselves.
    func release(_ range: Range<Int>) {
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
    func prefault(_ range: Range<Int>) {
        #if os(Linux)
        guard bytes.count > Self.keepResident, let base = bytes.baseAddress, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = range.lowerBound / page * page
        let end = min(range.upperBound, bytes.count)
        _ = madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, 22 /* MADV_POPULATE_READ */)
        #endif
    }

    /// The bytes in `range`.
    subscript(range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "range \(range) outside \(path)")
        return UnsafeRawBufferPointer(rebasing: bytes[range])
    }
}
