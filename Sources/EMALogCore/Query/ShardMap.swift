import EMALogFormats
import EMALogStore

/// How the ranks of a sharded run make up the whole model: every whole tensor, and the ranks'
/// slices that tile it.
///
/// Each rank's log says which slices it holds (`ShardLayout`, its first step's
/// `emalog.shard`): a DTensor's `Shard(d)` on any dimension, uneven and empty slices, several mesh
/// dimensions. A tensor a rank holds whole and names no slice of is the whole tensor; when
/// several ranks hold the same slice (a replicated tensor) the lowest rank's is read. A group none
/// of whose ranks carries a layout is read as FSDP2 wrote it before layouts: dim-0 slices in rank
/// order, 0-d tensors whole on every rank (rank 0's read).
struct ShardMap {
    /// A whole tensor: its record (id = its index here, shape the whole shape) and the slices
    /// read to make it, in rank order, one per distinct slice, none empty.
    struct Whole {
        var record: TensorRecord
        var pieces: [Piece]
    }

    /// One rank's slice of a whole tensor: its tensor in that rank's log, and where it starts.
    struct Piece {
        var rank: Int
        var local: TensorRecord
        var offset: [Int]
    }

    var tensors: [Whole]

    /// Builds the map from each rank's tensors and layout (in rank order), checking that the
    /// slices of every tensor tile it exactly: the same dtype and whole shape on every rank, no two
    /// distinct slices overlapping, every element held.
    init(ranks: [(tensors: [TensorRecord], layout: ShardLayout?)], group: String) throws(QueryError) {
        if ranks.allSatisfy({ $0.layout == nil }) {
            tensors = try Self.dimZero(ranks.map(\.tensors), group: group)
            return
        }
        var order: [String] = []
        var pieces: [String: [Piece]] = [:]
        var wholeShape: [String: (shape: [Int], dtype: DType, rank: Int)] = [:]
        for (rank, held) in ranks.enumerated() {
            for local in held.tensors {
                let slice = held.layout?.slices[local.name]
                    ?? ShardLayout.Slice(shape: local.shape, offset: Array(repeating: 0, count: local.shape.count))
                let (shape, offset) = (slice.shape, slice.offset)
                // Checked at ingest; checked again here, since a log read may come from anywhere
                // (a copy edited by hand, a team store): a slice outside its tensor is refused.
                let problem = slice.problem(holding: local.shape)
                    ?? (Self.fits(shape, dtype: local.dtype) ? nil : "has a whole shape \(TensorInfo.text(ofShape: shape)) too large to hold")
                if let problem {
                    throw .shardsDisagree(name: group, detail: "rank \(rank)'s slice of tensor '\(local.name)' does not lie inside "
                        + "its whole shape: it \(problem)")
                }
                if let seen = wholeShape[local.name] {
                    guard seen.shape == shape, seen.dtype == local.dtype else {
                        throw .shardsDisagree(name: group, detail: "tensor '\(local.name)' is \(local.dtype.rawValue) "
                            + "\(TensorInfo.text(ofShape: shape)) on rank \(rank), \(seen.dtype.rawValue) "
                            + "\(TensorInfo.text(ofShape: seen.shape)) on rank \(seen.rank)")
                    }
                } else {
                    wholeShape[local.name] = (shape, local.dtype, rank)
                    order.append(local.name)
                }
                pieces[local.name, default: []].append(Piece(rank: rank, local: local, offset: offset))
            }
        }
        // Names in byte order: the order the Python Logger writes a step's tensors in, so the
        // whole model comes back as an unsharded log of the same training hands it back.
        order.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        tensors = try order.enumerated().map { index, name throws(QueryError) in
            let (shape, dtype, _) = wholeShape[name]!
            let record = TensorRecord(id: Int64(index), name: name, dtype: dtype, shape: shape, position: index)
            return Whole(record: record, pieces: try Self.tiling(pieces[name]!, of: record, ranks: ranks.count, group: group))
        }
    }

    /// The distinct, non-empty slices of `whole`, checked to tile it.
    private static func tiling(_ all: [Piece], of whole: TensorRecord, ranks: Int, group: String) throws(QueryError) -> [Piece] {
        var distinct: [Piece] = []
        for piece in all where piece.local.elementCount > 0 {
            if distinct.contains(where: { $0.offset == piece.offset && $0.local.shape == piece.local.shape }) { continue }
            if let other = distinct.first(where: { overlap($0, piece) }) {
                throw .shardsDisagree(name: group, detail: "tensor '\(whole.name)': the slice of rank \(piece.rank) at "
                    + "\(TensorInfo.text(ofShape: piece.offset)) overlaps rank \(other.rank)'s at \(TensorInfo.text(ofShape: other.offset))")
            }
            distinct.append(piece)
        }
        let held = distinct.reduce(0) { $0 + $1.local.elementCount }
        guard held == whole.elementCount else {
            let holders = Set(all.map(\.rank)).sorted().map(String.init).joined(separator: ", ")
            throw .shardsDisagree(name: group, detail: "tensor '\(whole.name)' \(TensorInfo.text(ofShape: whole.shape)) has "
                + "\(whole.elementCount) elements; ranks \(holders) of \(ranks) hold \(held) of them (a rank's log is missing, "
                + "or was written by another training)")
        }
        return distinct
    }

    /// Whether a whole tensor of `shape` can be held: its element count, as the dtype and as a
    /// Float32 shadow, within what a step may hold.
    private static func fits(_ shape: [Int], dtype: DType) -> Bool {
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= Safetensors.maxDataLength / max(4, dtype.byteWidth) else { return false }
            count = product
        }
        return true
    }

    private static func overlap(_ a: Piece, _ b: Piece) -> Bool {
        a.offset.indices.allSatisfy { d in
            a.offset[d] < b.offset[d] + b.local.shape[d] && b.offset[d] < a.offset[d] + a.local.shape[d]
        }
    }

    /// The layout of groups pushed before layouts: every rank the same tensors, dim-0 slices in
    /// rank order, 0-d tensors whole (rank 0's).
    private static func dimZero(_ perRank: [[TensorRecord]], group: String) throws(QueryError) -> [Whole] {
        let first = perRank[0]
        for (rank, tensors) in perRank.enumerated().dropFirst() {
            guard tensors.count == first.count, zip(tensors, first).allSatisfy({ $0.name == $1.name && $0.dtype == $1.dtype
                && $0.shape.count == $1.shape.count && $0.shape.dropFirst() == $1.shape.dropFirst() }) else {
                throw .shardsDisagree(name: group, detail: "rank \(rank)'s tensors (names, dtypes, trailing dimensions) "
                    + "differ from rank 0's")
            }
        }
        return first.enumerated().map { i, tensor in
            var record = tensor
            record.id = Int64(i)
            record.position = i
            guard !tensor.shape.isEmpty else {
                return Whole(record: record, pieces: [Piece(rank: 0, local: tensor, offset: [])])
            }
            record.shape[0] = perRank.reduce(0) { $0 + $1[i].shape[0] }
            var row = 0
            var pieces: [Piece] = []
            for (rank, tensors) in perRank.enumerated() {
                let local = tensors[i]
                if local.elementCount > 0 {
                    pieces.append(Piece(rank: rank, local: local, offset: [row] + Array(repeating: 0, count: local.shape.count - 1)))
                }
                row += local.shape[0]
            }
            return Whole(record: record, pieces: pieces)
        }
    }
}
