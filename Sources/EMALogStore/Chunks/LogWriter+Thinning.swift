import EMALogFormats

/// What leaving out raw steps reclaimed.
public struct Thinning: Sendable, Equatable {
    /// Steps whose raw weights were left out.
    public var steps = 0
    /// Stored bytes of the chunks deleted.
    public var droppedBytes = 0
    /// Chunks of kept steps encoded again, and the stored bytes that added (or, below 0, saved).
    public var reencodedChunks = 0
    public var reencodedBytes = 0

    public init() {}

    /// Stored bytes reclaimed in all.
    public var reclaimedBytes: Int { droppedBytes - reencodedBytes }

    public mutating func add(_ other: Thinning) {
        steps += other.steps
        droppedBytes += other.droppedBytes
        reencodedChunks += other.reencodedChunks
        reencodedBytes += other.reencodedBytes
    }
}

extension LogWriter {
    /// Leaves out the raw weights of `drop` (steps stored with raw weights; others are ignored),
    /// keeping every other step decodable byte for byte: a kept step whose residual reached a
    /// dropped step is encoded again against the kept step before it, or as a keyframe when a
    /// dropped step between them held the chunk's keyframe (so no chain grows longer than the
    /// ingest made it) or no kept step comes before it. Everything happens in the caller's
    /// transaction: a process killed part-way leaves the log as it was.
    public func thin(dropping drop: Set<Int>, tensors: [TensorRecord]) throws -> Thinning {
        var result = Thinning()
        guard let low = drop.min(), let high = drop.max() else { return result }
        let dropping = Set(try rawStepNumbers(in: low...high)).intersection(drop)
        guard !dropping.isEmpty else { return result }
        // The raw steps around the dropped ones: a kept step after them re-encodes against the
        // kept step before it; the depth of the chain bounds how far a residual reaches.
        let before = try rawNeighbours(of: low).below
        var raw = try rawStepNumbers(in: low...high)
        var after = high
        for _ in 0..<ResidualChain.depth {
            guard let next = try rawNeighbours(of: after).above else { break }
            raw.append(next)
            after = next
        }
        if let before { raw.insert(before, at: 0) }
        let kept = raw.filter { !dropping.contains($0) }
        // Kept steps whose raw predecessors (the one or two raw steps before) include a dropped one.
        var candidates: [(step: Int, oldPredecessors: [Int], newPredecessor: Int?)] = []
        for (i, step) in raw.enumerated() where !dropping.contains(step) {
            let old = Array(raw[max(0, i - ResidualChain.depth)..<i].reversed())
            guard old.contains(where: dropping.contains) else { continue }
            let j = kept.firstIndex(of: step)!
            candidates.append((step, old, j > 0 ? kept[j - 1] : nil))
        }
        let coder = ChunkCoder()
        for tensor in tensors {
            for index in layout.ranges(of: tensor).indices {
                // Latest first: a step's decoding walks back through the steps before it, which must
                // still be encoded as they were (the dropped chunks go only at the end).
                for candidate in candidates.reversed() {
                    let chunk = try storedChunk(of: tensor, index: index, step: candidate.step)
                    let needs = chunk.header.codec.predecessors
                    guard needs > 0, candidate.oldPredecessors.prefix(needs).contains(where: dropping.contains) else { continue }
                    let bytes = try decodeChain(tensor: tensor, chunkIndex: index, step: candidate.step, coder: coder)
                    var reference: [UInt8]?
                    if let previous = candidate.newPredecessor,
                       try !keyframeDropped(tensor: tensor, index: index, between: previous, and: candidate.step, dropping) {
                        reference = try decodeChain(tensor: tensor, chunkIndex: index, step: previous, coder: coder)
                    }
                    let (codec, payload) = bytes.withUnsafeBytes { b in
                        guard let reference else { return coder.encode(b, dtype: tensor.dtype, predecessors: []) }
                        return reference.withUnsafeBytes { coder.encode(b, dtype: tensor.dtype, predecessors: [$0]) }
                    }
                    try updateChunk(index: index, tensorID: tensor.id, step: candidate.step, codec: codec, payload: payload)
                    result.reencodedChunks += 1
                    result.reencodedBytes += payload.count - chunk.payload.count
                }
            }
        }
        for step in dropping.sorted() {
            result.droppedBytes += try dropRaw(step: step)
            result.steps += 1
        }
        return result
    }

    /// Whether chunk `index` of `tensor` is a keyframe at a dropped step strictly between `previous` and `step`.
    private func keyframeDropped(tensor: TensorRecord, index: Int, between previous: Int, and step: Int,
                                 _ dropping: Set<Int>) throws -> Bool {
        var found = false
        try forEachChunkCodec(of: tensor, index: index, atOrBefore: step - 1) { at, codec in
            guard at > previous else { return false }
            if dropping.contains(at), codec?.predecessors == 0 { found = true; return false }
            return true
        }
        return found
    }
}
