import EMAKernel
import EMALogFormats
import EMALogStore

/// A sharded run read whole: each rank's log holds a dim-0 slice of every tensor (FSDP2's
/// layout: rank r holds rows [offset_r, offset_r + n_r) of each parameter, the ranks in order),
/// 0-d tensors whole on every rank (rank 0's are used). The EMA is elementwise, so each rank's
/// shadow is the slice of the unsharded run's shadow: the full one is the ranks' concatenated.
extension EMALog {
    /// Refuses a use case that reads one log when this is a sharded run.
    func requireOneLog(_ what: String) throws {
        if let shardGroup, !shards.isEmpty {
            throw QueryError.shardedRun(name: shardGroup, ranks: shards.count, what: what)
        }
    }

    /// The full tensor set from the ranks': the same names, dtypes and order; a tensor with
    /// dimensions has the same trailing dimensions on every rank and its dim-0 sizes add up.
    static func assembled(_ perRank: [[TensorRecord]], group: String) throws -> [TensorRecord] {
        let first = perRank[0]
        for (rank, tensors) in perRank.enumerated().dropFirst() {
            guard tensors.count == first.count, zip(tensors, first).allSatisfy({ $0.name == $1.name && $0.dtype == $1.dtype
                && $0.shape.count == $1.shape.count && $0.shape.dropFirst() == $1.shape.dropFirst() }) else {
                throw QueryError.shardsDisagree(name: group, detail: "rank \(rank)'s tensors (names, dtypes, trailing dimensions) "
                    + "differ from rank 0's")
            }
        }
        return first.enumerated().map { i, tensor in
            guard !tensor.shape.isEmpty else { return tensor }
            var full = tensor
            full.shape[0] = perRank.reduce(0) { $0 + $1[i].shape[0] }
            return full
        }
    }

    /// The step every rank has: `step`, or the latest step they all have.
    func commonStep(_ step: Int?) throws -> Int {
        let target = try step ?? shards.map { rank in
            try rank.store.read { r in
                guard let last = try r.lastStep() else { throw QueryError.emptyLog(path: rank.path) }
                return last
            }
        }.min()!
        for rank in shards { _ = try rank.store.read { r in try rank.resolveStep(target, r) } }
        return target
    }

    /// `compute` on every rank at one step, the results put together tensor by tensor.
    func shardedShadows(atStep step: Int?, _ compute: (EMALog, Int) throws -> [ShadowResult]) throws -> [ShadowResult] {
        let target = try commonStep(step)
        let perRank = try shards.map { try compute($0, target) }
        let group = shardGroup ?? ""
        let full = try Self.assembled(perRank.map { $0[0].tensors }, group: group)
        return try perRank[0].indices.map { k in
            let base = perRank[0][k]
            for (rank, results) in perRank.enumerated() where !results[k].spec.hasSameProfile(as: base.spec) {
                throw QueryError.shardsDisagree(name: group, detail: "rank \(rank)'s EMA is \(results[k].spec.canonical), rank 0's "
                    + base.spec.canonical)
            }
            let state = try ShadowState(spec: base.spec, tensors: full)
            state.step = target
            var integers: [Int64: [UInt8]] = [:]
            for (i, tensor) in full.enumerated() {
                let slices = tensor.shape.isEmpty ? [perRank[0]] : perRank
                if tensor.dtype.isFloating {
                    state.withMutableBytes(of: tensor) { out in
                        var offset = 0
                        for results in slices {
                            results[k].withValues(of: results[k].tensors[i]) { values in
                                let bytes = UnsafeRawBufferPointer(values)
                                out.baseAddress.map { $0.advanced(by: offset).copyMemory(from: bytes.baseAddress ?? UnsafeRawPointer($0), byteCount: bytes.count) }
                                offset += bytes.count
                            }
                        }
                    }
                } else {
                    integers[tensor.id] = slices.flatMap { $0[k].integerBytes(of: $0[k].tensors[i]) }
                }
            }
            return ShadowResult(step: target, spec: base.spec, trackName: base.trackName, startedFrom: base.startedFrom,
                                tensors: full, logID: perRank.map { $0[k].logID }.joined(separator: "+"), logPath: "",
                                state: state, integers: integers)
        }
    }

    /// The raw tensors of a sharded run at `step`, each assembled from the ranks' slices as it is written.
    func writeShardedRaw(atStep step: Int?, to target: OutputTarget) throws -> Int {
        let written = try commonStep(step)
        let perRank = try shards.map { rank in try rank.store.read { r in try r.tensors() } }
        let full = try Self.assembled(perRank, group: shardGroup ?? "")
        let metadata = try shards[0].store.read { r in try r.stepRecord(written)!.metadata }
        let ranks = shards
        let outputs = full.enumerated().map { i, tensor in
            OutputTensor(layout: tensor.layout) { emit in
                for (rank, tensors) in zip(ranks, perRank).prefix(tensor.shape.isEmpty ? 1 : ranks.count) {
                    _ = try rank.store.read { r in try r.forEachChunk(of: tensors[i], in: .step(written)) { _, bytes in try emit(bytes) } }
                }
            }
        }
        try TensorOutput.write(outputs, metadata: metadata, to: target)
        return written
    }
}
