import EMALogFormats
import Foundation

/// A safetensors file of one training step, mapped and validated; or a step frame read from a
/// stream into memory, validated by the same rules.
final class StepFile: Sendable {
    /// Where a step's bytes live. Only a mapped file can give pages back while it is read (they
    /// fault in again from the file); a frame's memory has nothing behind it, so it is never given
    /// back (`FrameBuffer` has no way to).
    enum Backing: Sendable {
        case file(MappedFile)
        case frame(FrameBuffer)
        /// A frame in the trainer's shared memory (`SharedSlots`), read in place.
        case slot(SlotMapping)
    }

    /// The file as given.
    let path: String
    let step: Int
    let header: SafetensorsHeader
    let backing: Backing
    /// Called with the end offset of each window read (`IngestHooks.afterWindowRead`, for tests).
    let afterWindowRead: (@Sendable (Int) -> Void)?

    /// The whole file's (or frame's) bytes.
    var bytes: UnsafeRawBufferPointer {
        switch backing {
        case let .file(mapped): mapped.bytes
        case let .frame(frame): frame.bytes
        case let .slot(slot): slot.bytes
        }
    }

    /// A file on disk (not a frame read from a stream), which `--remove-ingested` may delete.
    var isFile: Bool {
        if case .file = backing { return true }
        return false
    }

    /// The file's size in bytes.
    var size: Int { bytes.count }

    /// Maps and validates `path`; every format rule is checked here.
    init(path: String, hooks: IngestHooks = IngestHooks()) throws(IngestError) {
        self.path = path
        if let hook = hooks.afterWindowRead {
            afterWindowRead = { @Sendable end in hook(path, end) }
        } else {
            afterWindowRead = nil
        }
        let mapped = try MappedFile(path: path)
        let fileName = (path as NSString).lastPathComponent
        do throws(SafetensorsError) {
            let n = try Safetensors.headerLength(prefix: mapped.bytes, fileSize: mapped.bytes.count)
            header = try Safetensors.decodeHeader(mapped[8..<(8 + n)], fileSize: mapped.bytes.count)
            step = try Safetensors.step(metadata: header.metadata, fileName: fileName)
        } catch {
            // A header cut short under the mapping reads as zeros: say what really happened.
            try mapped.checkUnchanged()
            throw .badFile(path: path, error)
        }
        try Self.checkNames(header, path: path)
        backing = .file(mapped)
    }

    /// SQLite text bound or read through C strings ends at a NUL: such a tensor name cannot be stored.
    private static func checkNames(_ header: SafetensorsHeader, path: String) throws(IngestError) {
        if let name = header.tensors.first(where: { $0.name.utf8.contains(0) })?.name {
            throw .nulInName(path: path, line: nil, name: name)
        }
    }

    /// A step frame of `ingest -`, read into memory (`.frame`) or in the trainer's shared memory
    /// (`.slot`), its header decoded (from a copy); `label` names it in messages. The step must be
    /// in the metadata (a frame has no file name).
    init(label: String, inMemory backing: Backing, header: SafetensorsHeader, record: Int) throws(IngestError) {
        path = label
        self.header = header
        afterWindowRead = nil
        do throws(SafetensorsError) { step = try Safetensors.step(metadata: header.metadata, fileName: "") } catch {
            throw .badStream(record: record, detail: "\(error) (a frame must carry its step in __metadata__[\"step\"])")
        }
        try Self.checkNames(header, path: label)
        self.backing = backing
    }

    /// Whether the file at `path` is still the one read, unchanged (the same inode, size and
    /// modification time): what `--remove-ingested` may delete. A frame has no file.
    var isStillAtItsPath: Bool {
        guard case let .file(mapped) = backing else { return false }
        var info = stat()
        guard stat(path, &info) == 0, FileIdentity(info) == mapped.identity else { return false }
        return mapped.change() == nil
    }

    /// Throws `IngestError.changedWhileReading` when the file was truncated or written to since it
    /// was opened: what was read from it may be zeros or a mix of two versions; or when the trainer
    /// wrote a shared-memory slot again while it was read. A frame never changes.
    func checkUnchanged() throws(IngestError) {
        switch backing {
        case let .file(mapped): try mapped.checkUnchanged()
        case .frame: break
        case let .slot(slot):
            guard slot.unchanged else {
                throw .slotWrittenAgain(path: path, step: step, slot: slot.index, read: slot.generation, now: slot.owner.filled(slot.index))
            }
        }
    }

    /// Calls `body` with the bytes of `tensor` (valid during the call).
    func withBytes<R>(of tensor: TensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(self[fileRange(of: tensor)])
    }

    /// Calls `body` with the bytes of each of `tensors` (valid during the call).
    func withBytes<R>(of tensors: [TensorInfo], _ body: ([UnsafeRawBufferPointer]) throws -> R) rethrows -> R {
        try body(tensors.map { self[fileRange(of: $0)] })
    }

    /// The bytes at file offsets `range`.
    subscript(range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= bytes.count, "range \(range) outside \(path)")
        return UnsafeRawBufferPointer(rebasing: bytes[range])
    }

    /// Maps in the pages of `range` of `tensor`'s bytes in one call, before they are read.
    func prefault(_ tensor: TensorInfo, _ range: Range<Int>) { prefault(fileRange(of: tensor, range)) }

    /// Gives back the mapped pages of `range` of `tensor`'s bytes (see `release(_:)`).
    func release(_ tensor: TensorInfo, _ range: Range<Int>) { release(fileRange(of: tensor, range)) }

    /// Maps in the pages at file offsets `range` (a mapped file; a frame is in memory already).
    func prefault(_ range: Range<Int>) {
        if case let .file(mapped) = backing { mapped.prefault(range) }
    }

    /// Gives back the pages at file offsets `range` once read (see `MappedFile.release`); a frame
    /// keeps its memory whole, since nothing could bring its bytes back.
    func release(_ range: Range<Int>) {
        if case let .file(mapped) = backing { mapped.release(range) }
    }

    /// The file offsets of `range` of `tensor`'s bytes.
    func fileRange(of tensor: TensorInfo, _ range: Range<Int>) -> Range<Int> {
        let start = fileRange(of: tensor).lowerBound
        return (start + range.lowerBound)..<(start + range.upperBound)
    }

    /// The file offsets of `tensor`'s bytes.
    func fileRange(of tensor: TensorInfo) -> Range<Int> {
        (header.dataOffset + tensor.byteRange.lowerBound)..<(header.dataOffset + tensor.byteRange.upperBound)
    }

    /// Calls `body` with `tensor`'s bytes in windows of about 64 MiB (whole elements), each
    /// released after its call, so a pass over a large tensor keeps only a window resident.
    /// `body` gets the window's byte offset in the tensor.
    func forEachWindow(of tensor: TensorInfo, _ body: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
        try forEachWindow(in: fileRange(of: tensor), unit: max(1, tensor.dtype.byteWidth), body)
    }

    /// The file's bytes in `range`, in windows of about 64 MiB (a multiple of `unit` bytes), each
    /// released after `body` has seen it; `body` gets the window's offset from `range`'s start.
    /// An empty range is one empty window.
    func forEachWindow(in range: Range<Int>, unit: Int, _ body: (Int, UnsafeRawBufferPointer) throws -> Void) rethrows {
        let window = (64 << 20) / unit * unit
        var offset = 0
        repeat {
            let part = (range.lowerBound + offset)..<min(range.lowerBound + offset + window, range.upperBound)
            defer { release(part) }
            prefault(part)
            try body(offset, self[part])
            afterWindowRead?(part.upperBound)
            offset += window
        } while range.lowerBound + offset < range.upperBound
    }

    /// The step a file would have without reading its tensors: metadata, else the name's digits.
    /// Returns nil when neither gives one (the full read will report why).
    static func probeStep(path: String) -> Int? {
        let fileName = (path as NSString).lastPathComponent
        return try? Safetensors.step(metadata: probeMetadata(path: path), fileName: fileName)
    }

    /// `__metadata__` read from the header alone, or empty when the header cannot be read.
    static func probeMetadata(path: String) -> [String: String] {
        // Never FileHandle(forReadingAtPath:): opening a FIFO that way blocks until a writer comes.
        guard let (fd, _) = try? RegularFile.openForReading(path) else { return [:] }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        guard let prefix = try? handle.read(upToCount: 8), prefix.count == 8 else { return [:] }
        let n = prefix.reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }  // little-endian
        guard n <= UInt64(Safetensors.maxHeaderLength), let body = try? handle.read(upToCount: Int(n)),
              body.count == Int(n) else { return [:] }
        // A header as writers write it: its metadata found without reading its entries; anything
        // else the slow way.
        if let metadata = body.withUnsafeBytes({ Safetensors.quickMetadata($0) }) { return metadata }
        guard case let .object(members)? = try? body.withUnsafeBytes({ b throws(JSONError) in try JSONParser.parse(b) })
        else { return [:] }
        guard let meta = members.first(where: { $0.key == "__metadata__" }), case let .object(fields) = meta.value else {
            return [:]
        }
        var out: [String: String] = [:]
        for field in fields { if case let .string(s) = field.value { out[field.key] = s } }
        return out
    }
}
