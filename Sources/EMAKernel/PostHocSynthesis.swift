#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// EDM2's post-hoc EMA synthesis (Karras et al. 2024, "Analyzing and Improving the Training
/// Dynamics of Diffusion Models", Algorithm 3): the weights of a power-function EMA of any σ_rel
/// at time t, as a weighted sum of stored power-function EMAs (other σ_rel, earlier times), with
/// the weights that fit its averaging profile best in least squares. All arithmetic in Double.
public enum PostHocSynthesis {
    /// A power-function EMA profile: its time (the step of a snapshot, > 0) and exponent γ.
    public struct Profile: Sendable, Equatable {
        public var time: Double
        public var gamma: Double

        public init(time: Double, gamma: Double) {
            self.time = time
            self.gamma = gamma
        }
    }

    /// The relative standard deviation of the profile of exponent γ (EDM2 eq. 123).
    public static func sigmaRel(gamma: Double) -> Double {
        ((gamma + 1) / ((gamma + 2) * (gamma + 2)) / (gamma + 3)).squareRoot()
    }

    /// The inner product of two profiles' averaging weights over time (EDM2 eq. 151, Algorithm 3),
    /// as EDM2's `power_function_correlation` computes it.
    public static func correlation(_ a: Profile, _ b: Profile) -> Double {
        let ratio = a.time / b.time
        let exponent = a.time < b.time ? b.gamma : -a.gamma
        let numerator = (a.gamma + 1) * (b.gamma + 1) * pow(ratio, exponent)
        let denominator = (a.gamma + b.gamma + 1) * max(a.time, b.time)
        return numerator / denominator
    }

    /// The result of a solve: one coefficient per input (they sum to 1, as EDM2 normalises them)
    /// and the fit's relative error: ‖Σ xᵢ pᵢ − target‖ / ‖target‖ over the profiles' weights.
    public struct Solution: Sendable, Equatable {
        public var coefficients: [Double]
        public var relativeError: Double
    }

    /// EDM2's `solve_posthoc_coefficients` for one target: solves A x = b (A the inputs' pairwise
    /// correlations, b their correlations with the target) by Gaussian elimination with partial
    /// pivoting, then divides x by its sum (`normalize`; ema-pytorch's `solve_weights` does not).
    /// Nil when A is singular (two inputs of the same profile, say).
    public static func solve(inputs: [Profile], target: Profile, normalize: Bool = true) -> Solution? {
        let n = inputs.count
        guard n > 0 else { return nil }
        var a = inputs.map { p in inputs.map { q in correlation(p, q) } }
        var b = inputs.map { correlation($0, target) }
        let a0 = a, b0 = b
        for column in 0..<n {
            var pivot = column
            for row in (column + 1)..<max(column + 1, n) where abs(a[row][column]) > abs(a[pivot][column]) { pivot = row }
            guard a[pivot][column] != 0, a[pivot][column].isFinite else { return nil }
            if pivot != column {
                a.swapAt(pivot, column)
                b.swapAt(pivot, column)
            }
            for row in (column + 1)..<max(column + 1, n) {
                let factor = a[row][column] / a[column][column]
                guard factor != 0 else { continue }
                for k in column..<n { a[row][k] -= factor * a[column][k] }
                b[row] -= factor * b[column]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var sum = b[row]
            for k in (row + 1)..<max(row + 1, n) { sum -= a[row][k] * x[k] }
            x[row] = sum / a[row][row]
        }
        if normalize {
            let total = x.reduce(0, +)
            guard total != 0, total.isFinite else { return nil }
            x = x.map { $0 / total }
        }
        guard x.allSatisfy(\.isFinite) else { return nil }
        // ‖Σ xᵢ pᵢ − t‖² = xᵀAx − 2 xᵀb + ⟨t, t⟩, with the coefficients returned.
        var quadratic = 0.0, linear = 0.0
        for i in 0..<n {
            linear += x[i] * b0[i]
            for j in 0..<n { quadratic += x[i] * a0[i][j] * x[j] }
        }
        let self_ = correlation(target, target)
        let error = max(0, quadratic - 2 * linear + self_)
        return Solution(coefficients: x, relativeError: (error / self_).squareRoot())
    }
}
