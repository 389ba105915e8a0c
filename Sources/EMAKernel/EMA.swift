/// The EMA update of a shadow toward parameters, in Float32, in the three reference forms.
public enum EMA {
    /// The Float32 constants of one update, derived once per step from β_s (a Double).
    public struct Coefficients: Sendable, Equatable {
        public let form: EMASpec.Form
        /// seed: Float(1 - β); lerp, sub and sub-fma: w = Float(1 - β).
        public let rate: Float
        /// seed: Float(β); lerp: w - 1 (computed in Float); sub and sub-fma: unused (0).
        public let keep: Float

        /// Rounds `1 - decay` and `decay` (both computed in Double) to Float32 once each.
        public init(decay: Double, form: EMASpec.Form) {
            self.form = form
            let w = Float(1.0 - decay)
            rate = w
            switch form {
            case .seed: keep = Float(decay)
            case .lerp: keep = w - 1
            case .sub, .subFMA: keep = 0
            }
        }
    }

    /// One element's update, the scalar definition every vector path must match bit for bit.
    ///
    /// - seed: `c1 * θ + c2 * s`, each product and the sum rounded (no FMA).
    /// - lerp: `fma(w, θ - s, s)` when w < 0.5, else `fma(w - 1, θ - s, θ)` (torch's CPU lerp).
    /// - sub: `s - w * (s - θ)`, each operation rounded.
    /// - sub-fma: `fma(-w, s - θ, s)`, the same fused (= `fma(w, θ - s, s)`).
    @inline(__always)
    public static func updated(_ s: Float, toward theta: Float, _ c: Coefficients) -> Float {
        switch c.form {
        case .seed:
            let a = c.rate * theta
            let b = c.keep * s
            return a + b
        case .lerp:
            let d = theta - s
            return c.rate < 0.5 ? s.addingProduct(c.rate, d) : theta.addingProduct(c.keep, d)
        case .sub:
            let d = s - theta
            let p = c.rate * d
            return s - p
        case .subFMA:
            return s.addingProduct(c.rate, theta - s)
        }
    }
}
