import EMALogFormats

/// One key's metric values over a run of steps, stored as one row (SQLite's `metric_blocks`, the
/// team store's `run_metric_blocks`): `count` pairs of (step as Int64, value as its Float64 bits),
/// little-endian, steps strictly ascending. NaN and -0.0 keep their bits.
public struct MetricBlock: Sendable {
    public var keyID: Int64
    public var steps: [Int] = []
    public var values: [Double] = []
    /// The `first_step` of the stored row this block was read from (nil: not stored yet).
    package var storedFirstStep: Int?
    package var dirty = false

    /// Values a SQLite block holds when an ingest appends (4,000 bytes: four rows fill a 16 KB page); a
    /// block that grows past twice this in the middle of a history is split in two. (Rows this size
    /// must live in a rowid table: a WITHOUT ROWID row over ~4 KB spills into an overflow page.)
    package static let capacity = 250

    public init(keyID: Int64) { self.keyID = keyID }

    /// A stored row, validated: a blob of `count` pairs, steps >= 0 ascending, first and last as recorded.
    public init(keyID: Int64, firstStep: Int, lastStep: Int, count: Int, data: [UInt8]) throws(StoreError) {
        self.keyID = keyID
        storedFirstStep = firstStep
        func damaged(_ why: String) -> StoreError {
            .inconsistent("the metric block of key id \(keyID) at step \(firstStep) \(why)")
        }
        guard count >= 1, data.count % 16 == 0, data.count / 16 == count else {
            throw damaged("holds \(data.count) bytes for \(count) values (16 bytes each)")
        }
        steps.reserveCapacity(count)
        values.reserveCapacity(count)
        data.withUnsafeBytes { raw in
            for i in 0..<count {
                steps.append(Int(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 16, as: Int64.self))))
                values.append(Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self))))
            }
        }
        for i in steps.indices where steps[i] < 0 || (i > 0 && steps[i] <= steps[i - 1]) {
            throw damaged("has step \(steps[i]) at position \(i): steps must be >= 0 and ascending")
        }
        guard steps.first == firstStep, steps.last == lastStep else {
            throw damaged("holds steps \(steps.first!)-\(steps.last!), its row says \(firstStep)-\(lastStep)")
        }
    }

    public var count: Int { steps.count }

    /// The blob.
    public func encoded() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: steps.count * 16)
        out.withUnsafeMutableBytes { raw in
            for i in steps.indices {
                raw.storeBytes(of: Int64(steps[i]).littleEndian, toByteOffset: i * 16, as: Int64.self)
                raw.storeBytes(of: values[i].bitPattern.littleEndian, toByteOffset: i * 16 + 8, as: UInt64.self)
            }
        }
        return out
    }

    /// Where `step` is or would go (binary search).
    package func index(of step: Int) -> (position: Int, found: Bool) {
        if let last = steps.last, step > last { return (steps.count, false) }
        let position = StepNumber.count(below: step, in: steps)
        return (position, position < steps.count && steps[position] == step)
    }

    /// A key's blocks read in step order for the values within `steps`: each must start after the
    /// one before ends (else the log is damaged).
    public struct Walk {
        let keyID: Int64
        let steps: ClosedRange<Int>
        private var previousLast: Int?

        public init(keyID: Int64, steps: ClosedRange<Int>) {
            self.keyID = keyID
            self.steps = steps
        }

        /// Appends `block`'s values within the range to `out`.
        public mutating func add(_ block: MetricBlock, to out: inout [MetricValue]) throws(StoreError) {
            if let previousLast, block.steps[0] <= previousLast {
                throw .inconsistent("the metric blocks of key id \(keyID) overlap: one reaches step \(previousLast), "
                    + "the next starts at \(block.steps[0])")
            }
            previousLast = block.steps.last
            for (step, value) in zip(block.steps, block.values) where steps.contains(step) {
                out.append(MetricValue(step: step, keyID: keyID, value: value))
            }
        }
    }
}
