#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMALogCoreC

/// The shared memory a training process hands its steps over in (`ingest - --shared-memory-fd N`,
/// written by the Python Logger): a sealed memory file holding a slot table and a ring of slots,
/// each slot one step's safetensors frame, read here in place (no copy, no pipe for the bytes).
///
///     bytes 0..<4096          the slot table: "EMALOGSL", a u64 version (1), then from byte 64
///                             one 64-byte entry per slot i (at most 63): a u64 `filled` (the
///                             generation the trainer wrote last into slot i, stored once the
///                             frame is whole) and a u64 `released` (the generation emalog no
///                             longer reads: the trainer may write the slot again)
///     a "Z" record            `Z<slot> <offset> <length> <generation>\n`: slot i holds a frame of
///                             `length` bytes at `offset` (page-aligned, past the table), filled
///                             as `generation`
///
/// The trainer writes slot i only once `released == filled` (or before its first use), and a
/// frame's generation is checked when the record is read and again before anything read from it
/// commits (`SlotMapping.unchanged`): a slot written again while emalog reads it refuses that
/// step, whatever the other process does. The file must be sealed against shrinking
/// (`F_SEAL_SHRINK`), so no page emalog maps can vanish under it (no SIGBUS); it may grow.
///
/// `@unchecked Sendable`: the table's mapping is written only through atomic stores of whole
/// words (`emalog_store_release_u64`) and read through atomic loads; it is unmapped in deinit.
final class SharedSlots: @unchecked Sendable {
    let fd: Int32
    private let table: UnsafeMutableRawPointer

    static let tableBytes = 4096
    static let entryBytes = 64
    static let maxSlots = tableBytes / entryBytes - 1
    static let magic = Array("EMALOGSL".utf8)
    static let version: UInt64 = 1
    /// `fcntl` commands and seal bits (Linux `<fcntl.h>`; not every libc module exports them).
    private static let getSeals: Int32 = 1034
    private static let sealShrink: Int32 = 0x0002

    /// Checks `fd` is a memory file sealed against shrinking with the slot table's magic, and maps
    /// the table. Throws `IngestError.badStream` (record `record`) saying what is wrong.
    init(fd: Int32, record: Int) throws(IngestError) {
        func bad(_ detail: String) -> IngestError {
            .badStream(record: record, detail: "the shared memory (descriptor \(fd)) \(detail)")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw bad("cannot be read: \(String(cString: strerror(errno)))") }
        guard info.st_mode & S_IFMT == S_IFREG else { throw bad("is not a memory file") }
        guard Int(info.st_size) >= Self.tableBytes else { throw bad("is smaller than its slot table (\(Self.tableBytes) bytes)") }
        #if os(Linux)
        let seals = fcntl(fd, Self.getSeals)
        guard seals >= 0, seals & Self.sealShrink != 0 else {
            throw bad("is not sealed against shrinking (F_SEAL_SHRINK): a page could vanish while it is read")
        }
        #endif
        guard let base = mmap(nil, Self.tableBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else {
            throw bad("cannot be mapped: \(String(cString: strerror(errno)))")
        }
        let header = UnsafeRawBufferPointer(start: base, count: 16)
        guard Array(header[0..<8]) == Self.magic, header.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == Self.version else {
            munmap(base, Self.tableBytes)
            throw bad("does not start with an emalog slot table (\"EMALOGSL\", version \(Self.version))")
        }
        self.fd = fd
        table = base
    }

    deinit { munmap(table, Self.tableBytes) }

    /// The generation last written into slot `index`.
    func filled(_ index: Int) -> UInt64 { emalog_load_acquire_u64(table + Self.entryBytes * (index + 1)) }

    /// Tells the trainer slot `index` (as `generation`) is no longer read.
    func release(_ index: Int, generation: UInt64) {
        emalog_store_release_u64(table + Self.entryBytes * (index + 1) + 8, generation)
    }

    /// Maps the frame a "Z" record names, read-only; throws `IngestError.badStream` when the record
    /// does not fit the file or the slot holds another generation.
    func map(slot index: Int, offset: Int, length: Int, generation: UInt64, record: Int) throws(IngestError) -> SlotMapping {
        func bad(_ detail: String) -> IngestError { .badStream(record: record, detail: detail) }
        guard (0..<Self.maxSlots).contains(index) else { throw bad("slot \(index) is not one of the table's 0...\(Self.maxSlots - 1)") }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        guard offset >= Self.tableBytes, offset % page == 0, length >= 8 else {
            throw bad("slot \(index): a frame at \(offset) of \(length) bytes (it must start on a page past the slot table, and hold 8 bytes or more)")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, offset <= Int(info.st_size), length <= Int(info.st_size) - offset else {
            throw bad("slot \(index): a frame at \(offset) of \(length) bytes ends past the shared memory's \(info.st_size) bytes")
        }
        guard generation > 0, filled(index) == generation else {
            throw bad("slot \(index) holds generation \(filled(index)), not the record's \(generation): it was written again")
        }
        guard let base = mmap(nil, length, PROT_READ, MAP_SHARED, fd, off_t(offset)), base != MAP_FAILED else {
            throw .unreadable(path: "slot \(index)", reason: "cannot map \(length) bytes: \(String(cString: strerror(errno)))")
        }
        return SlotMapping(owner: self, index: index, generation: generation, bytes: UnsafeRawBufferPointer(start: base, count: length))
    }
}

/// One frame in a slot of `SharedSlots`, mapped read-only for as long as the log needs the step (it
/// and the two after it, whose residuals are computed against it); the slot is handed back to the
/// trainer when this is deinitialised.
///
/// `@unchecked Sendable`: the mapping is read-only and unmapped only in deinit.
final class SlotMapping: @unchecked Sendable {
    let owner: SharedSlots
    let index: Int
    let generation: UInt64
    let bytes: UnsafeRawBufferPointer

    fileprivate init(owner: SharedSlots, index: Int, generation: UInt64, bytes: UnsafeRawBufferPointer) {
        self.owner = owner
        self.index = index
        self.generation = generation
        self.bytes = bytes
    }

    /// Whether the slot still holds the generation read (the trainer did not write it again).
    var unchanged: Bool { owner.filled(index) == generation }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: bytes.baseAddress!), bytes.count)
        owner.release(index, generation: generation)
    }
}
