/// Which part of the whole model a rank's steps hold, as a step's `__metadata__["emalog.shard"]`
/// says it (the Python Logger writes it in a `torch.distributed` job):
///
///     {"rank": 1, "ranks": 3, "tensors": {"fc.weight": {"shape": [13, 4], "offset": [5, 0]}, ...}}
///
/// `tensors` names each tensor of the step that is a slice of a larger one: the whole tensor's
/// shape and where the slice starts in it, per dimension; the slice's own shape is the step's
/// tensor's. A tensor of the step not named there is whole. Tensors another rank holds (a
/// replicated one, stored once) are simply not in this rank's steps.
public struct ShardLayout: Sendable, Equatable {
    /// The `__metadata__` key holding the layout.
    public static let metadataKey = "emalog.shard"

    public var rank: Int
    public var ranks: Int
    /// The sliced tensors by name.
    public var slices: [String: Slice]

    /// One tensor's slice: the whole tensor's shape and the slice's first index in each dimension.
    public struct Slice: Sendable, Equatable {
        public var shape: [Int]
        public var offset: [Int]

        public init(shape: [Int], offset: [Int]) {
            self.shape = shape
            self.offset = offset
        }

        /// Why a tensor of shape `local` cannot be this slice (a sentence after the tensor's
        /// name), nil when it lies inside the whole shape at the offset.
        public func problem(holding local: [Int]) -> String? {
            guard local.count == shape.count, offset.count == shape.count else {
                return "has \(local.count) dimensions, its whole shape \(TensorInfo.text(ofShape: shape)) has \(shape.count)"
            }
            for d in shape.indices where offset[d] > shape[d] || local[d] > shape[d] - offset[d] {
                return "(\(TensorInfo.text(ofShape: local))) at offset \(TensorInfo.text(ofShape: offset)) goes past its whole "
                    + "shape \(TensorInfo.text(ofShape: shape)) in dimension \(d)"
            }
            return nil
        }
    }

    public init(rank: Int, ranks: Int, slices: [String: Slice]) {
        self.rank = rank
        self.ranks = ranks
        self.slices = slices
    }

    /// Most ranks a layout may name, and most dimensions a slice may have.
    static let maxRanks = 1 << 20
    static let maxDimensions = 64

    /// The layout in `metadata`, nil when it has none; a layout that does not parse throws a
    /// sentence saying what is wrong in it.
    public static func find(in metadata: [String: String]) throws(ShardLayoutError) -> ShardLayout? {
        guard let text = metadata[metadataKey] else { return nil }
        return try ShardLayout(parsing: text)
    }

    /// Parses a layout's JSON text.
    public init(parsing text: String) throws(ShardLayoutError) {
        let value: JSONValue
        do { value = try JSONParser.parse(Array(text.utf8)) } catch {
            throw ShardLayoutError("it is not JSON (\(error))")
        }
        guard case let .object(members) = value else { throw ShardLayoutError("it is \(value.kindName), not a JSON object") }
        var rank: Int?, ranks: Int?, slices: [String: Slice] = [:]
        var keys = Set<String>()
        for member in members {
            // JSON readers differ on a key given twice (the first, or the last): refused.
            guard keys.insert(member.key).inserted else { throw ShardLayoutError("\"\(member.key.prefix(80))\" is given twice") }
            switch member.key {
            case "rank": rank = try Self.integer(member.value, "rank", in: 0..<Self.maxRanks)
            case "ranks": ranks = try Self.integer(member.value, "ranks", in: 1..<(Self.maxRanks + 1))
            case "tensors":
                guard case let .object(entries) = member.value else {
                    throw ShardLayoutError("\"tensors\" is \(member.value.kindName), not an object of tensor names")
                }
                for entry in entries {
                    guard slices[entry.key] == nil else { throw ShardLayoutError("tensor '\(entry.key.prefix(200))' is named twice") }
                    slices[entry.key] = try Self.slice(entry.value, name: entry.key)
                }
            default: throw ShardLayoutError("it has an unknown key '\(member.key.prefix(80))' (keys: rank, ranks, tensors)")
            }
        }
        guard let rank, let ranks else { throw ShardLayoutError("it needs \"rank\" and \"ranks\"") }
        guard rank < ranks else { throw ShardLayoutError("rank \(rank) is not below ranks \(ranks)") }
        self.init(rank: rank, ranks: ranks, slices: slices)
    }

    /// A problem between this layout and the step's tensors it describes, nil when none: every
    /// named tensor is in the step with as many dimensions as its whole shape, and each slice lies
    /// inside its whole tensor.
    public func problem(with tensors: [TensorInfo]) -> String? {
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in slices.keys.sorted() {
            let slice = slices[name]!
            guard let tensor = byName[name] else {
                return "it names tensor '\(name.prefix(200))', which the step does not hold"
            }
            if let problem = slice.problem(holding: tensor.shape) { return "tensor '\(name.prefix(200))' \(problem)" }
        }
        return nil
    }

    private static func integer(_ value: JSONValue, _ what: String, in range: Range<Int>) throws(ShardLayoutError) -> Int {
        guard case let .number(n) = value, let v = n.int64, let int = Int(exactly: v), range.contains(int) else {
            throw ShardLayoutError("\"\(what)\" must be an integer in \(range.lowerBound)...\(range.upperBound - 1)")
        }
        return int
    }

    private static func dimensions(_ value: JSONValue?, _ what: String, name: String) throws(ShardLayoutError) -> [Int] {
        guard case let .array(items)? = value, items.count <= maxDimensions else {
            throw ShardLayoutError("tensor '\(name.prefix(200))' needs \"\(what)\", an array of at most \(maxDimensions) integers")
        }
        var dims: [Int] = []
        for item in items {
            guard case let .number(n) = item, let v = n.int64, v >= 0, v <= Int64(Safetensors.maxDataLength) else {
                throw ShardLayoutError("tensor '\(name.prefix(200))': \"\(what)\" holds \(item.kindName == "a number" ? "a number that is not a size" : item.kindName)")
            }
            dims.append(Int(v))
        }
        return dims
    }

    private static func slice(_ value: JSONValue, name: String) throws(ShardLayoutError) -> Slice {
        guard case let .object(fields) = value else {
            throw ShardLayoutError("tensor '\(name.prefix(200))' is \(value.kindName), not {\"shape\": [...], \"offset\": [...]}")
        }
        for field in fields where field.key != "shape" && field.key != "offset" {
            throw ShardLayoutError("tensor '\(name.prefix(200))' has an unknown key '\(field.key.prefix(80))' (keys: shape, offset)")
        }
        guard fields.count == Set(fields.map(\.key)).count else {
            throw ShardLayoutError("tensor '\(name.prefix(200))' gives \"shape\" or \"offset\" twice")
        }
        let shape = try dimensions(fields.first { $0.key == "shape" }?.value, "shape", name: name)
        let offset = try dimensions(fields.first { $0.key == "offset" }?.value, "offset", name: name)
        guard shape.count == offset.count else {
            throw ShardLayoutError("tensor '\(name.prefix(200))' has a shape of \(shape.count) dimensions and an offset of \(offset.count)")
        }
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow, product <= Safetensors.maxDataLength else {
                throw ShardLayoutError("tensor '\(name.prefix(200))' has a whole shape \(TensorInfo.text(ofShape: shape)) too large to hold")
            }
            count = product
        }
        return Slice(shape: shape, offset: offset)
    }
}
