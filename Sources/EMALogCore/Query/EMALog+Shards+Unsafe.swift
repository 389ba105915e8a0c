import EMAKernel
import EMALogFormats
import EMALogStore

/// A sharded run read whole: a folder of rank logs (`rank-RRRRR.emalog`) or a team store's sharded
/// run. Each rank's log holds slices of the tensors (`ShardMap` says which); the EMA is
/// elementwise, so each rank's shadow is the slice of the unsharded run's shadow, and the whole
/// one is the ranks' slices put in place.
extension EMALog {
    /// Refuses a use case that reads one log when this is a sharded run.
    func requireOneLog(_ what: String) throws {
        if let shardGroup, !shards.isEmpty {
            throw QueryError.shardedRun(name: shardGroup, ranks: shards.count, what: what)
        }
    }

    /// How the ranks' tensors make up the whole model (each rank's tensors and its first step's layout).
    func shardMap() throws -> ShardMap {
        let group = shardGroup ?? ""
        let ranks = try shards.enumerated().map { index, rank in
            try rank.store.read { r -> (tensors: [TensorRecord], layout: ShardLayout?) in
                do {
                    return (try r.tensors(), try Self.firstStepLayout(r))
                } catch let error as ShardLayoutError {
                    throw QueryError.shardsDisagree(name: group, detail: "rank \(index)'s first step names its slices in an "
                        + "emalog.shard layout that does not read: \(error)")
                }
            }
        }
        for (index, rank) in ranks.enumerated() {
            guard let layout = rank.layout else { continue }
            if layout.rank != index {
                throw QueryError.shardsDisagree(name: group, detail: "the log read as rank \(index) "
                    + "(\(shards[index].path)) says it is rank \(layout.rank) of \(layout.ranks)")
            }
            if layout.ranks != ranks.count {
                let missing = layout.ranks > ranks.count ? ": no log of rank \(ranks.count)" + (layout.ranks - ranks.count > 1
                    ? " to \(layout.ranks - 1)" : "") + " (each rank's Logger writes its own)" : ""
                throw QueryError.shardsDisagree(name: group, detail: "rank \(index)'s log says the training has \(layout.ranks) "
                    + "ranks, \(ranks.count) are read\(missing)")
            }
        }
        return try ShardMap(ranks: ranks, group: shardGroup ?? "")
    }

    /// The slices a log holds, as its first step names them (`emalog.shard`); nil for a log of
    /// the whole model.
    static func firstStepLayout(_ r: any LogReader) throws -> ShardLayout? {
        guard let first = try r.firstStep().flatMap({ try r.stepRecord($0) }) else { return nil }
        return try ShardLayout.find(in: first.metadata)
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
        let map = try shardMap()
        let target = try commonStep(step)
        let perRank = try shards.map { try compute($0, target) }
        let group = shardGroup ?? ""
        let full = map.tensors.map(\.record)
        return try perRank[0].indices.map { k in
            let base = perRank[0][k]
            for (rank, results) in perRank.enumerated() where !results[k].spec.hasSameProfile(as: base.spec) {
                throw QueryError.shardsDisagree(name: group, detail: "rank \(rank)'s EMA is \(results[k].spec.canonical), rank 0's "
                    + base.spec.canonical)
            }
            let state = try ShadowState(spec: base.spec, tensors: full)
            state.step = target
            var integers: [Int64: [UInt8]] = [:]
            for whole in map.tensors {
                let tensor = whole.record
                if tensor.dtype.isFloating {
                    state.withMutableBytes(of: tensor) { out in
                        for piece in whole.pieces {
                            perRank[piece.rank][k].withValues(of: piece.local) { values in
                                Self.place(UnsafeRawBufferPointer(values), of: piece, in: out, elementSize: 4, whole: tensor.shape)
                            }
                        }
                    }
                } else {
                    var bytes = [UInt8](repeating: 0, count: tensor.byteCount)
                    bytes.withUnsafeMutableBytes { out in
                        for piece in whole.pieces {
                            perRank[piece.rank][k].integerBytes(of: piece.local).withUnsafeBytes { values in
                                Self.place(values, of: piece, in: out, elementSize: tensor.dtype.byteWidth, whole: tensor.shape)
                            }
                        }
                    }
                    integers[tensor.id] = bytes
                }
            }
            return ShadowResult(step: target, spec: base.spec, trackName: base.trackName, startedFrom: base.startedFrom,
                                tensors: full, logID: perRank.map { $0[k].logID }.joined(separator: "+"), logPaths: shards.map(\.path),
                                state: state, integers: integers)
        }
    }

    /// The raw tensors of a sharded run at `step`, each put together from the ranks' slices as it
    /// is written (one whole tensor in memory at a time).
    func writeShardedRaw(atStep step: Int?, to target: OutputTarget) throws -> Int {
        let map = try shardMap()
        let written = try commonStep(step)
        let records = try shards.map { rank in
            try rank.store.read { r in
                guard let record = try r.stepRecord(written), record.raw else {
                    let (below, above) = try r.rawNeighbours(of: written)
                    throw QueryError.rawNotKept(what: nil, missing: written, below: below, above: above)
                }
                return record
            }
        }
        let metadata = records[0].metadata.filter { $0.key != ShardLayout.metadataKey }
        let ranks = shards
        let outputs = map.tensors.map { whole in
            OutputTensor(layout: whole.record.layout) { emit in
                var bytes = [UInt8](repeating: 0, count: whole.record.byteCount)
                try bytes.withUnsafeMutableBytes { out in
                    for piece in whole.pieces {
                        var local = [UInt8]()
                        local.reserveCapacity(piece.local.byteCount)
                        _ = try ranks[piece.rank].store.read { r in
                            try r.forEachChunk(of: piece.local, in: .step(written)) { _, chunk in local.append(contentsOf: chunk) }
                        }
                        local.withUnsafeBytes { Self.place($0, of: piece, in: out, elementSize: whole.record.dtype.byteWidth,
                                                           whole: whole.record.shape) }
                    }
                }
                try bytes.withUnsafeBytes { try emit($0) }
            }
        }
        try TensorOutput.write(outputs, metadata: metadata, to: target)
        return written
    }

    /// Copies a slice's elements (row-major, `piece.local.shape`) to their places in the whole
    /// tensor (row-major, `whole`): runs as long as the trailing dimensions the slice holds whole allow.
    static func place(_ slice: UnsafeRawBufferPointer, of piece: ShardMap.Piece, in out: UnsafeMutableRawBufferPointer,
                      elementSize: Int, whole: [Int]) {
        let local = piece.local.shape
        guard slice.count == piece.local.elementCount * elementSize, let source = slice.baseAddress,
              let destination = out.baseAddress else { return }
        // `ShardMap` checked the slice lies inside the whole tensor; the copies stay inside `out` regardless.
        precondition(whole.indices.allSatisfy { piece.offset[$0] + local[$0] <= whole[$0] }
                     && whole.reduce(elementSize, *) == out.count, "a slice outside its tensor")
        guard !whole.isEmpty else {
            destination.copyMemory(from: source, byteCount: min(slice.count, out.count))
            return
        }
        // `split`: the last dimension where the slice is narrower than the whole; the dimensions
        // after it are held whole, so each index of the dimensions before it is one run.
        var split = 0
        for d in whole.indices.reversed() where local[d] != whole[d] {
            split = d
            break
        }
        var strides = [Int](repeating: elementSize, count: whole.count)
        for d in stride(from: whole.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * whole[d + 1] }
        let run = local[split...].reduce(elementSize, *)
        var index = [Int](repeating: 0, count: split)
        var read = 0
        while read < slice.count {
            var at = piece.offset[split] * strides[split]
            for d in 0..<split { at += (piece.offset[d] + index[d]) * strides[d] }
            destination.advanced(by: at).copyMemory(from: source.advanced(by: read), byteCount: run)
            read += run
            var d = split - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < local[d] { break }
                index[d] = 0
                d -= 1
            }
        }
    }
}
