#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMALogCoreC

/// The trainer's side of `ingest -` with shared memory, as the Python Logger writes it (`_slots.py`):
/// a sealed memory file with the slot table, slots of `slotBytes` each, filled only once emalog has
/// released them. Tests use it to hand frames over in place and to break the protocol on purpose.
///
/// `@unchecked Sendable`: after init, one thread (the feed) writes slots and `generation`; other
/// threads only read the table's words, through atomic loads.
public final class SlotRingFeed: @unchecked Sendable {
    public let fd: Int32
    public let slotCount: Int
    public let slotBytes: Int
    private let base: UnsafeMutableRawPointer
    private let size: Int
    private var generation: UInt64 = 0

    /// A ring of `slots` slots of `slotBytes` (rounded up to pages); `seal` false leaves the file
    /// unsealed, `magic` false writes another table header (both refused by emalog).
    public init(slots: Int, slotBytes: Int, seal: Bool = true, magic: Bool = true) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        slotCount = slots
        self.slotBytes = (slotBytes + page - 1) / page * page
        fd = emalog_memfd_create("emalog-test-slots", 1)
        precondition(fd >= 0, "memfd_create: \(errno)")
        size = 4096 + slots * self.slotBytes
        precondition(ftruncate(fd, off_t(size)) == 0)
        if seal { precondition(fcntl(fd, 1033 /* F_ADD_SEALS */, Int32(0x0002) /* F_SEAL_SHRINK */) == 0) }
        base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)!
        precondition(base != MAP_FAILED)
        let header = Array((magic ? "EMALOGSL" : "NOTSLOTS").utf8)
        header.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: 8) }
        base.storeBytes(of: UInt64(1), toByteOffset: 8, as: UInt64.self)
    }

    deinit {
        munmap(base, size)
        close(fd)
    }

    public func filled(_ slot: Int) -> UInt64 { emalog_load_acquire_u64(base + 64 * (slot + 1)) }
    public func released(_ slot: Int) -> UInt64 { emalog_load_acquire_u64(base + 64 * (slot + 1) + 8) }

    /// Waits until emalog released `slot` (or `seconds` pass: false).
    public func waitForRelease(_ slot: Int, seconds: Double = 60) -> Bool {
        var waited = 0.0
        while released(slot) != filled(slot) {
            if waited > seconds { return false }
            usleep(200)
            waited += 0.0002
        }
        return true
    }

    /// Writes `frame` (a safetensors file's bytes) into `slot` as a new generation, once emalog has
    /// released it; returns its "Z" record, or nil when emalog did not release the slot in a minute.
    public func put(_ frame: [UInt8], slot: Int) -> [UInt8]? {
        precondition(frame.count <= slotBytes)
        guard waitForRelease(slot) else { return nil }
        let at = 4096 + slot * slotBytes
        frame.withUnsafeBytes { (base + at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        generation += 1
        emalog_store_release_u64(base + 64 * (slot + 1), generation)
        return Array("Z\(slot) \(at) \(frame.count) \(generation)\n".utf8)
    }

    /// Writes into `slot` without waiting for emalog (what a broken trainer does): a new generation
    /// and `byte` over its first data byte.
    public func scribble(slot: Int, at offset: Int, byte: UInt8) {
        generation += 1
        (base + 4096 + slot * slotBytes + offset).storeBytes(of: byte, as: UInt8.self)
        emalog_store_release_u64(base + 64 * (slot + 1), generation)
    }
}
