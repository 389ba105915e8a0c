import EMALogFormats

extension LogReader {
    /// Calls `body` with each chunk of `tensor`'s bytes for `owner`, in order, decoded and checked
    /// against its checksum; the buffer is valid only during the call. Returns the total bytes seen.
    @discardableResult
    public func forEachChunk(of tensor: TensorRecord, in owner: ChunkOwner,
                             _ body: (_ offset: Int, _ bytes: UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let coder = ChunkCoder()
        var offset = 0
        var expected = 0
        var decoded: [UInt8] = []
        // One chunk's payload and decoded bytes at a time.
        try forEachStoredChunk(of: tensor, in: owner) { chunk in
            guard chunk.header.index == expected else {
                throw StoreError.inconsistent("tensor '\(tensor.name)' \(owner.label): chunk \(expected) is missing")
            }
            expected += 1
            if chunk.header.codec.predecessors == 0 {
                try ChunkDecoder.decode(chunk, of: tensor, predecessors: [], coder: coder, into: &decoded)
            } else if case let .step(step) = owner {
                decoded = try decodeChain(tensor: tensor, chunkIndex: chunk.header.index, step: step, coder: coder)
            }
            try decoded.withUnsafeBytes { try body(offset, $0) }
            offset += chunk.header.rawSize
        }
        let size = owner.byteCount(of: tensor)
        guard offset == size else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' \(owner.label) holds \(offset) bytes, expected \(size)")
        }
        return offset
    }

    /// Decodes one chunk of a step by walking back to its keyframe and forward again.
    func decodeChain(tensor: TensorRecord, chunkIndex: Int, step: Int, coder: ChunkCoder) throws -> [UInt8] {
        var chain: [StoredChunk] = []
        var limit = 64
        while true {
            chain = try storedChunks(of: tensor, index: chunkIndex, atOrBefore: step, limit: limit)
            if chain.contains(where: { $0.header.codec.predecessors == 0 }) || chain.count < limit { break }
            limit *= 4
        }
        guard let keyframe = chain.firstIndex(where: { $0.header.codec.predecessors == 0 }) else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' chunk \(chunkIndex) at step \(step) has no keyframe before it")
        }
        var recent: [[UInt8]] = []
        for chunk in chain[...keyframe].reversed() {
            var decoded: [UInt8] = []
            try ChunkDecoder.decode(chunk, of: tensor, predecessors: recent[...], coder: coder, into: &decoded)
            recent.insert(decoded, at: 0)
            if recent.count > ResidualChain.depth { recent.removeLast() }
        }
        return recent[0]
    }

    /// The latest step at or before `step` where chunk `chunkIndex` of `tensor` is a keyframe
    /// (codecs only, no payloads).
    public func keyframeStep(tensor: TensorRecord, chunkIndex: Int, atOrBefore step: Int) throws -> Int {
        var found: Int?
        try forEachChunkCodec(of: tensor, index: chunkIndex, atOrBefore: step) { at, codec in
            guard codec?.predecessors == 0 else { return true }
            found = at
            return false
        }
        guard let found else {
            throw StoreError.inconsistent("tensor '\(tensor.name)' chunk \(chunkIndex) at step \(step) has no keyframe before it")
        }
        return found
    }
}
