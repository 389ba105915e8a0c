import EMALogFormats

extension LogWriter {
    /// Stores `bytes` as `tensor`'s data for `owner` as they are (`plain`: snapshots, read often and
    /// barely compressible), chunk by chunk with the XXH64 of each, without a copy. Raw steps are
    /// encoded through `StepAppender` instead.
    public func insertPlainChunks(of tensor: TensorRecord, in owner: ChunkOwner, bytes: UnsafeRawBufferPointer) throws {
        precondition(bytes.count == owner.byteCount(of: tensor), "\(tensor.name): \(bytes.count) bytes")
        for (index, range) in layout.ranges(of: bytes.count).enumerated() {
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[range])
            try insertChunk(ChunkHeader(index: index, codec: .plain, rawSize: range.count, checksum: XXH64.hash(chunk)),
                            in: owner, tensorID: tensor.id, payload: chunk)
        }
    }

    /// Before `step`'s chunks are replaced: the steps whose residuals reach back to it are
    /// re-encoded without it (the next stored step becomes a keyframe, the one after it a residual
    /// against that keyframe only), so nothing still depends on the old bytes of `step`.
    public func detachDependents(ofStep step: Int, tensors: [TensorRecord]) throws {
        let (_, next) = try rawNeighbours(of: step)
        guard let next else { return }
        let (_, afterNext) = try rawNeighbours(of: next)
        let coder = ChunkCoder()
        for tensor in tensors {
            for index in layout.ranges(of: tensor).indices {
                guard try storedChunk(of: tensor, index: index, step: next).header.codec.predecessors > 0 else { continue }
                let nextBytes = try decodeChain(tensor: tensor, chunkIndex: index, step: next, coder: coder)
                // Only a two-step residual at the step after next reaches back to `step`; it is
                // decoded before `next` changes under it.
                var afterNextBytes: [UInt8]?
                if let afterNext, try storedChunk(of: tensor, index: index, step: afterNext).header.codec.predecessors >= 2 {
                    afterNextBytes = try decodeChain(tensor: tensor, chunkIndex: index, step: afterNext, coder: coder)
                }
                let (keyCodec, keyPayload) = nextBytes.withUnsafeBytes { coder.encode($0, dtype: tensor.dtype, predecessors: []) }
                try updateChunk(index: index, tensorID: tensor.id, step: next, codec: keyCodec, payload: keyPayload)
                if let afterNext, let afterNextBytes {
                    let (codec, payload) = afterNextBytes.withUnsafeBytes { b in
                        nextBytes.withUnsafeBytes { coder.encode(b, dtype: tensor.dtype, predecessors: [$0]) }
                    }
                    try updateChunk(index: index, tensorID: tensor.id, step: afterNext, codec: codec, payload: payload)
                }
            }
        }
    }
}
