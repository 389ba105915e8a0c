#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMALogFormats

/// The records of `emalog ingest -`, read from a file descriptor (stdin), so a training loop
/// hands its steps over without writing a file:
///
///     record := "S" frame        a safetensors file's bytes: the u64 header length, the header,
///                                then exactly the data its offsets declare (self-delimiting);
///                                the step is __metadata__["step"]
///             | "M" line "\n"    one metrics JSON line
///             | "F" path "\n"    a complete step file to ingest (deleted once committed with
///                                --remove-ingested: the Python Logger's spool in /dev/shm)
///             | "Z" slot " " offset " " length " " generation "\n"
///                                a frame in the trainer's shared memory (`SharedSlots`, given
///                                as a descriptor), read in place; the slot is handed back once
///                                the log no longer needs the step
///             | "P" step " " name "\n"   name a stored step (`emalog pin`)
///
/// The stream ends at the end of a record; one that ends inside a record is refused (what came
/// before is stored). A frame is checked by every rule a step file is, read once into memory that
/// holds it for as long as the log needs it (a step and the two before, for the residuals).
struct StepStream {
    enum Record {
        case step(StepFile)
        case metrics([MetricsLine])
        /// A step file named by an "F" record.
        case file(String)
        /// A "P" record: name a stored step (`emalog pin`), e.g. before a retention policy drops it.
        case pin(step: Int, name: String)
    }

    let fd: Int32
    /// What the stream comes from, in messages and each frame's source path ("stdin").
    let source: String
    /// Polled between records: once requested, the stream ends where no more bytes are waiting
    /// (what was sent before the stop, in the buffer or the pipe, is read and stored first; a
    /// record under way is read whole).
    let stop: StopToken
    /// The descriptor of the trainer's shared memory (`Z` records), nil when none was given; its
    /// slot table is checked and mapped at the first `Z` record.
    let slotsDescriptor: Int32?
    private var slots: SharedSlots?
    private var buffer = [UInt8](repeating: 0, count: 1 << 20)
    private var start = 0, end = 0
    /// Records read so far (the current one's number in messages).
    private(set) var count = 0
    private var keys = MetricsKeyCache()

    /// Longest metrics line accepted.
    static let maxLineLength = 16 << 20

    init(fd: Int32, source: String = "stdin", stop: StopToken, slotsDescriptor: Int32? = nil) {
        self.fd = fd
        self.source = source
        self.stop = stop
        self.slotsDescriptor = slotsDescriptor
    }

    /// The next record, or nil at the end of the stream, or once a stop was requested and no
    /// more bytes are waiting.
    mutating func next() throws -> Record? {
        guard try fill(atLeast: 1, stoppable: true) else { return nil }
        count += 1
        let tag = buffer[start]
        start += 1
        switch tag {
        case UInt8(ascii: "S"): return .step(try frame())
        case UInt8(ascii: "M"): return .metrics(try line())
        case UInt8(ascii: "F"): return .file(try path())
        case UInt8(ascii: "P"): return try pin()
        case UInt8(ascii: "Z"): return .step(try slotFrame())
        default:
            let shown = (0x20..<0x7F).contains(tag) ? " ('\(Character(Unicode.Scalar(tag)))')" : ""
            throw IngestError.badStream(record: count, detail: "starts with byte 0x\(String(tag, radix: 16))\(shown); a record is "
                + "\"S\" and a safetensors frame, \"M\" and one metrics line, \"F\" and a step file's path, \"Z\" and a shared-memory slot, or \"P\" and a pin")
        }
    }

    private var label: String { "\(source) record \(count)" }

    private mutating func frame() throws -> StepFile {
        var prefix = [UInt8](repeating: 0, count: 8)
        try prefix.withUnsafeMutableBytes { try read(exactly: $0, what: "the header length") }
        let n: Int, header: SafetensorsHeader
        var headerBytes: [UInt8] = []
        do {
            n = try prefix.withUnsafeBytes { try Safetensors.headerLength(prefix: $0, fileSize: Safetensors.maxHeaderLength + 8) }
            headerBytes = [UInt8](repeating: 0, count: n)
            try headerBytes.withUnsafeMutableBytes { try read(exactly: $0, what: "the header") }
            header = try headerBytes.withUnsafeBytes { try Safetensors.decodeHeader($0) }
        } catch let error as SafetensorsError {
            throw IngestError.badFile(path: label, error)
        }
        let total = header.dataOffset + header.dataLength
        // A frame is held in memory whole, and with the two steps after it (whose residuals are
        // computed against it): frames that three of would not fit in the machine's memory are
        // refused as what they are, not as a failed allocation or the kernel's OOM killer.
        let memory = Int(sysconf(Int32(_SC_PHYS_PAGES))) &* Int(sysconf(Int32(_SC_PAGESIZE)))
        if memory > 0, total > memory / 3 {
            throw IngestError.badStream(record: count, detail: "a frame of \(total) bytes (its header's offsets), more than a "
                + "third of this machine's \(memory) bytes of memory (a frame is held whole, with the two after it): "
                + "write such steps as files (Logger(spool=...), or F records)")
        }
        let frame = try FrameBuffer(label: label, count: total) { bytes in
            prefix.withUnsafeBytes { bytes.copyMemory(from: $0) }
            headerBytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: bytes[8..<header.dataOffset]).copyMemory(from: $0) }
            try read(exactly: UnsafeMutableRawBufferPointer(rebasing: bytes[header.dataOffset...]), what: "the tensor data")
        }
        return try StepFile(label: label, inMemory: .frame(frame), header: header, record: count)
    }

    /// A "Z" record: a frame in a slot of the trainer's shared memory, mapped in place. Its header
    /// is decoded from a copy (the other process cannot change it under the decoder); its data is
    /// read where it is, and the slot's generation is checked again before the step commits.
    private mutating func slotFrame() throws -> StepFile {
        let range = try lineRange(longest: 128, what: "a \"Z\" record")
        let fields = buffer[range].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
            .map { String(validating: $0, as: UTF8.self).flatMap { UInt64($0) } }
        guard fields.count == 4, let slot = fields[0], let offset = fields[1], let length = fields[2], let generation = fields[3],
              slot <= UInt64(Int.max), offset <= UInt64(Int.max), length <= UInt64(Int.max) else {
            throw IngestError.badStream(record: count, detail: "a \"Z\" record is a slot, an offset, a length and a generation "
                + "(decimal, separated by spaces), then a newline")
        }
        guard let descriptor = slotsDescriptor else {
            throw IngestError.badStream(record: count, detail: "a \"Z\" record names a shared-memory slot, but no shared "
                + "memory was given (--shared-memory-fd)")
        }
        if slots == nil { slots = try SharedSlots(fd: descriptor, record: count) }
        let mapping = try slots!.map(slot: Int(slot), offset: Int(offset), length: Int(length), generation: generation, record: count)
        let header: SafetensorsHeader
        do {
            let n = try Safetensors.headerLength(prefix: mapping.bytes, fileSize: mapping.bytes.count)
            let copy = [UInt8](UnsafeRawBufferPointer(rebasing: mapping.bytes[8..<(8 + n)]))
            header = try copy.withUnsafeBytes { try Safetensors.decodeHeader($0) }
        } catch let error as SafetensorsError {
            throw IngestError.badFile(path: label, error)
        }
        guard header.dataOffset + header.dataLength == mapping.bytes.count else {
            throw IngestError.badStream(record: count, detail: "slot \(slot): the frame's header declares \(header.dataOffset + header.dataLength) "
                + "bytes, the record \(length)")
        }
        return try StepFile(label: label, inMemory: .slot(mapping), header: header, record: count)
    }

    /// A "P" record: a step number, a space and a pin's name, up to its newline (at most 4096 bytes
    /// of UTF-8); the name is checked where it is stored.
    private mutating func pin() throws -> Record {
        let range = try lineRange(longest: 4096, what: "a \"P\" record")
        let bytes = buffer[range]
        guard let text = String(validating: bytes, as: UTF8.self), let space = text.firstIndex(of: " "),
              let step = Int(text[..<space]), StepNumber.isValid(step) else {
            throw IngestError.badStream(record: count, detail: "a \"P\" record is a step number, a space and a name, then a newline")
        }
        return .pin(step: step, name: String(text[text.index(after: space)...]))
    }

    /// An "F" record's path, up to its newline (at most 4096 bytes of UTF-8, no NUL).
    private mutating func path() throws -> String {
        let range = try lineRange(longest: 4096, what: "an \"F\" record's path")
        let bytes = buffer[range]
        guard !bytes.isEmpty, !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else {
            throw IngestError.badStream(record: count, detail: "an \"F\" record's path is empty, not UTF-8 or holds a NUL")
        }
        return text
    }

    private mutating func line() throws -> [MetricsLine] {
        let range = try lineRange(longest: Self.maxLineLength, what: "a metrics line")
        var lines: [MetricsLine] = []
        let path = label
        try buffer.withUnsafeBytes { all in
            _ = try MetricsFile.decodeLines(UnsafeRawBufferPointer(rebasing: all[range]), from: 0, line: 1,
                                            allowPartialTail: false, path: path, keys: &keys, into: &lines)
        }
        return lines
    }

    /// The buffer's bytes up to the next newline (read in as needed; at most `longest` of them),
    /// consumed with the newline; valid until the buffer is next filled.
    private mutating func lineRange(longest: Int, what: String) throws -> Range<Int> {
        var searched = 0  // bytes after `start` known to hold no newline
        while true {
            if let newline = buffer[(start + searched)..<end].firstIndex(of: 0x0A) {
                defer { start = newline + 1 }
                return start..<newline
            }
            searched = end - start
            guard searched <= longest else {
                throw IngestError.badStream(record: count, detail: "\(what) longer than \(longest) bytes")
            }
            guard try fill(atLeast: searched + 1) else {
                throw IngestError.badStream(record: count, detail: "the stream ended inside \(what) (no newline)")
            }
        }
    }

    /// Makes at least `needed` unread bytes available in the buffer (growing it for a long line);
    /// false when the stream ends first.
    /// `stoppable`: a wait for more bytes ends (false) when a stop is requested.
    private mutating func fill(atLeast needed: Int, stoppable: Bool = false) throws -> Bool {
        if end - start >= needed { return true }
        if start > 0 {
            buffer.withUnsafeMutableBytes { b in b.baseAddress!.copyMemory(from: b.baseAddress! + start, byteCount: end - start) }
            end -= start
            start = 0
        }
        if buffer.count < needed { buffer += [UInt8](repeating: 0, count: needed - buffer.count + (1 << 20)) }
        while end < needed {
            let (fd, filled, stop) = (self.fd, end, stoppable ? self.stop : nil)
            let got = try buffer.withUnsafeMutableBytes { b in
                try Self.readSome(fd, into: b.baseAddress! + filled, count: b.count - filled, stop: stop)
            }
            if got == 0 { return false }
            end += got
        }
        return true
    }

    /// Fills `destination` from the buffer, then straight from the stream (large data is not copied twice).
    private mutating func read(exactly destination: UnsafeMutableRawBufferPointer, what: String) throws {
        let buffered = min(end - start, destination.count)
        buffer.withUnsafeBytes { b in destination.baseAddress?.copyMemory(from: b.baseAddress! + start, byteCount: buffered) }
        start += buffered
        var done = buffered
        while done < destination.count {
            let got = try Self.readSome(fd, into: destination.baseAddress! + done, count: destination.count - done)
            if got == 0 {
                throw IngestError.badStream(record: count, detail: "the stream ended inside \(what) (\(done) of \(destination.count) bytes); "
                    + "that step is not stored")
            }
            done += got
        }
    }
}

extension StepStream {
    /// One read(2) of up to `count` bytes (retried on EINTR): how many came, 0 at the end, or 0
    /// when `stop` is requested while it waits.
    fileprivate static func readSome(_ fd: Int32, into destination: UnsafeMutableRawPointer, count: Int,
                                     stop: StopToken? = nil) throws -> Int {
        while true {
            if let stop {
                // Waiting for the next record: look at the stop request at least every 100 ms (a
                // signal also ends the wait at once, as EINTR). Once it is requested, only bytes
                // already waiting are read; none waiting is the stream's end.
                var watched = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let ready = poll(&watched, 1, stop.requested ? 0 : 100)
                if ready < 0 && errno == EINTR { continue }
                if ready == 0 {
                    if stop.requested { return 0 }
                    continue
                }
            }
            let got = systemRead(fd, destination, count)
            if got >= 0 { return got }
            if errno == EINTR, stop?.requested == true { return 0 }
            if errno != EINTR { throw IngestError.unreadable(path: "stdin", reason: String(cString: strerror(errno))) }
        }
    }
}

/// read(2), under a name the stream's own `read(exactly:what:)` does not hide.
private func systemRead(_ fd: Int32, _ destination: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, destination, count)
}
