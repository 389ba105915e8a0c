import EMALogFormats
import EMALogStore

/// A step file as the store's `StepAppender` reads it: the bytes of the log's tensors (found by
/// name: a file may list them in any order), its mapped pages faulted in and given back around
/// each group of chunks, and what the first read of them found (`StepDigest`), which every chunk
/// the appender stores or predicts from is confirmed against.
final class StepFileSource: StepSource {
    let file: StepFile
    let digest: StepDigest
    /// The file's entry for each tensor of the log, in the log's order.
    private let entries: [TensorInfo]
    /// Where each of `entries` is in the file's header (`digest.chunkHashes`' order).
    private let headerIndex: [Int]

    /// `file`'s tensors in the order of `tensors` (the tensor set was checked against the log's).
    init(_ file: StepFile, digest: StepDigest, tensors: [TensorRecord]) {
        self.file = file
        self.digest = digest
        let header = file.header.tensors
        // A run's steps keep their first step's order (the log's): no lookup by name then.
        if header.count == tensors.count, zip(header, tensors).allSatisfy({ $0.name == $1.name }) {
            entries = header
            headerIndex = Array(header.indices)
            return
        }
        let byName = Dictionary(header.indices.map { (header[$0].name, $0) }, uniquingKeysWith: { first, _ in first })
        headerIndex = tensors.map { tensor in
            guard let index = byName[tensor.name] else { preconditionFailure("\(file.path) has no tensor \(tensor.name)") }
            return index
        }
        entries = headerIndex.map { header[$0] }
    }

    func withBytes<R>(of tensors: [TensorRecord], _ body: ([UnsafeRawBufferPointer]) throws -> R) throws -> R {
        // (The names were matched once, in `init`: here only their number, on every step's hot path.)
        precondition(tensors.count == entries.count, "asked for other tensors than this source was made for")
        return try file.withBytes(of: entries, body)
    }

    func willRead(tensor index: Int, _ range: Range<Int>) { file.prefault(entries[index], range) }

    func release(tensor index: Int, _ range: Range<Int>) { file.release(entries[index], range) }

    func checkUnchanged() throws { try file.checkUnchanged() }

    func confirm(tensor index: Int, chunk: Int, checksum: UInt64) throws {
        let name = entries[index].name
        let expected = digest.chunkHashes[headerIndex[index]]
        guard chunk < expected.count else {
            preconditionFailure("\(file.path): no first-read hash of chunk \(chunk) of \(name)")
        }
        guard expected[chunk] != checksum else { return }
        try file.checkUnchanged()  // a file rewritten or cut short says so in its own words
        if case let .slot(slot) = file.backing {  // the trainer's memory changed without a new generation
            throw IngestError.slotWrittenAgain(path: file.path, step: file.step, slot: slot.index, read: slot.generation,
                                               now: slot.owner.filled(slot.index))
        }
        throw IngestError.bytesChanged(path: file.path, step: file.step, tensor: name, chunk: chunk, isFile: file.isFile)
    }
}
