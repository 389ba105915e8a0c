import EMALogFormats

extension LogReader {
    /// Copies `tensor`'s bytes for `owner` into `destination` (exactly its size).
    public func readTensor(_ tensor: TensorRecord, in owner: ChunkOwner, into destination: UnsafeMutableRawBufferPointer) throws {
        try forEachChunk(of: tensor, in: owner) { offset, bytes in
            precondition(offset + bytes.count <= destination.count, "destination too small for \(tensor.name)")
            if bytes.count > 0 { (destination.baseAddress! + offset).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count) }
        }
    }
}

/// Decodes stored chunks; touches no store, so it runs on any thread.
enum ChunkDecoder {
    /// Decodes `chunk` of `tensor` into `out`, given the decoded bytes of the same chunk at the
    /// steps before it (newest first), and checks the result against the chunk's checksum.
    /// `out`'s storage is reused when it is unshared and of the right size (a replay recycles the
    /// step that drops out of its window: no fresh pages per chunk-step).
    static func decode(_ chunk: StoredChunk, of tensor: TensorRecord, predecessors: ArraySlice<[UInt8]>, coder: ChunkCoder,
                       into out: inout [UInt8]) throws(StoreError) {
        let header = chunk.header
        let what = "tensor '\(tensor.name)' \(chunk.owner.label), chunk \(header.index)"
        guard predecessors.count >= header.codec.predecessors else {
            throw .inconsistent("\(what): \(header.codec.rawValue) needs \(header.codec.predecessors) earlier steps after a keyframe")
        }
        let dtype = chunk.owner.dtype(of: tensor)
        if out.count != header.rawSize {
            // Every byte is written by the decoder (or the chunk is refused), so no zero-fill.
            out = [UInt8](unsafeUninitializedCapacity: header.rawSize) { _, initialized in initialized = header.rawSize }
        }
        let failure: CodecError? = out.withUnsafeMutableBytes { destination in
            let failure = chunk.payload.withUnsafeBytes { payload in
                withBuffers(predecessors.prefix(header.codec.predecessors)) { previous in
                    coder.decode(payload, codec: header.codec, dtype: dtype, predecessors: previous, into: destination)
                }
            }
            if failure != nil { destination.initializeMemory(as: UInt8.self, repeating: 0) }
            return failure
        }
        if let failure { throw .checksumMismatch(what: "\(what) (\(failure))") }
        guard out.withUnsafeBytes({ XXH64.hash($0) }) == header.checksum else { throw .checksumMismatch(what: what) }
    }

    /// Calls `body` with raw buffers over up to two arrays (valid during the call).
    static func withBuffers<R>(_ arrays: ArraySlice<[UInt8]>, _ body: ([UnsafeRawBufferPointer]) -> R) -> R {
        let start = arrays.startIndex
        switch arrays.count {
        case 0:
            return body([])
        case 1:
            return arrays[start].withUnsafeBytes { a in body([a]) }
        default:
            return arrays[start].withUnsafeBytes { a in arrays[start + 1].withUnsafeBytes { b in body([a, b]) } }
        }
    }
}
