import EMAKernel
import EMALogFormats
import EMALogStore

/// What the first read of a step's bytes found, in one pass over them: the whole file's XXH64 (the
/// step's source hash), the XXH64 of every chunk of every tensor (cut as the log cuts them), and
/// each floating tensor's first NaN or infinity.
///
/// Everything stored from a step is checked against this first read before it commits: the
/// encoder hashes each chunk it stores (its stored checksum) and each predecessor chunk it
/// predicts from, and `StepFileSource.confirm` compares them with these hashes. Bytes that changed
/// after the first read (memory given back and read again as zeros, a buffer reused, a file
/// rewritten in place) make the step refused instead of stored. The shadow update reads the bytes
/// between the two, so a change it could see is one the last read sees too (memory that was
/// discarded does not come back).
struct StepDigest: Sendable {
    /// XXH64 of the whole file (or frame), as `StepRecord.sourceHash` records it.
    let fileHash: UInt64
    /// For each tensor of the header (`file.header.tensors`' order), the XXH64 of each chunk's
    /// bytes, in chunk order.
    let chunkHashes: [[UInt64]]
    /// The first non-finite element, by the header's tensor order (nil when there is none, or
    /// when it was not looked for).
    let nonFinite: (tensor: String, index: Int, value: String)?

    /// Reads `file` once, chunk by chunk in file order, a slice of each chunk at a time for the
    /// three computations while it is in cache (a mapped file's pages are given back behind the
    /// pass). `findNonFinite`: look for NaN and infinity in floating tensors.
    init(of file: StepFile, layout: ChunkLayout, findNonFinite: Bool) {
        var whole = XXH64()
        file.forEachWindow(in: 0..<file.header.dataOffset, unit: 1) { _, bytes in whole.update(bytes) }
        var hashes: [[UInt64]] = []
        hashes.reserveCapacity(file.header.tensors.count)
        var bad: [String: (index: Int, value: String)] = [:]
        // Tensors lie back to back in the file in offset order (a rule of the format, and the
        // header's order), so hashing them in that order after the header hashes the whole file.
        for info in file.header.tensors {
            let floating = findNonFinite ? FloatingDType(rawValue: info.dtype.rawValue) : nil
            var chunks: [UInt64] = []
            for range in layout.ranges(of: info.byteRange.count) {
                var chunk = XXH64()
                file.forEachWindow(in: file.fileRange(of: info, range), unit: max(1, info.dtype.byteWidth)) { offset, window in
                    Self.slices(of: window) { at, slice in
                        whole.update(slice)
                        chunk.update(slice)
                        if let floating, bad[info.name] == nil, let (i, value) = Widening.firstNonFinite(in: slice, dtype: floating) {
                            bad[info.name] = ((range.lowerBound + offset + at) / floating.byteWidth + i,
                                              value.isNaN ? "NaN" : (value < 0 ? "-Inf" : "Inf"))
                        }
                    }
                }
                chunks.append(chunk.finalize())
            }
            hashes.append(chunks)
        }
        fileHash = whole.finalize()
        chunkHashes = hashes
        nonFinite = bad.isEmpty ? nil
            : file.header.tensors.lazy.compactMap { info in bad[info.name].map { (info.name, $0.index, $0.value) } }.first
    }

    /// Calls `body` with `window` in slices of 256 KiB (whole elements of every dtype), each with
    /// its offset in the window.
    private static func slices(of window: UnsafeRawBufferPointer, _ body: (Int, UnsafeRawBufferPointer) -> Void) {
        let slice = 256 << 10
        var at = 0
        repeat {
            body(at, UnsafeRawBufferPointer(rebasing: window[at..<min(at + slice, window.count)]))
            at += slice
        } while at < window.count
    }
}
