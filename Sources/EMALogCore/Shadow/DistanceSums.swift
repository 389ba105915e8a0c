import Synchronization

/// What a measuring replay gathers: for each step it goes through, Σθ² of the raw weights and,
/// for each shadow, Σ(shadow − θ)² after that step's update, over the replayed tensors.
///
/// Workers add their chunks' sums under a lock, so the order of the additions (and the last bits
/// of a sum) depends on scheduling; the sums are for pictures, not for bit-exact comparisons.
final class DistanceSums: Sendable {
    /// Each shadow's column.
    let shadowIndex: [ObjectIdentifier: Int]
    let steps: [Int]
    private let row: [Int: Int]
    private let width: Int
    private let sums: Mutex<[Double]>

    init(shadows: [ShadowState], steps: [Int]) {
        shadowIndex = Dictionary(uniqueKeysWithValues: shadows.enumerated().map { (ObjectIdentifier($1), $0) })
        self.steps = steps
        row = Dictionary(steps.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
        width = 1 + shadows.count
        sums = Mutex([Double](repeating: 0, count: steps.count * width))
    }

    /// Runs `body` over zeroed sums for `stepList` (rows in that order, `width` each), then adds
    /// them to the totals.
    func add(steps stepList: [Int], _ body: (UnsafeMutableBufferPointer<Double>) -> Void) {
        var local = [Double](repeating: 0, count: stepList.count * width)
        local.withUnsafeMutableBufferPointer { body($0) }
        let width = width
        sums.withLock { sums in
            for (t, step) in stepList.enumerated() {
                guard let r = row[step] else { continue }
                for k in 0..<width { sums[r * width + k] += local[t * width + k] }
            }
        }
    }

    /// Per step, Σθ² and each shadow's Σ(shadow − θ)².
    func totals() -> (thetaSquares: [Double], distanceSquares: [[Double]]) {
        let all = sums.withLock { $0 }
        let shadows = width - 1
        let theta = steps.indices.map { all[$0 * width] }
        let distances = (0..<shadows).map { k in steps.indices.map { all[$0 * width + 1 + k] } }
        return (theta, distances)
    }
}
