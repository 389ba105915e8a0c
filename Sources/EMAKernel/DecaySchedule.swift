#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a step sits in the log: what the schedules need to compute β_s.
public struct StepPosition: Sendable, Equatable {
    /// The step number s.
    public var step: Int
    /// The log's first step s0.
    public var firstStep: Int
    /// The previous ingested step (s - Δ).
    public var previousStep: Int

    public init(step: Int, firstStep: Int, previousStep: Int) {
        precondition(step > previousStep && previousStep >= firstStep, "steps must increase")
        self.step = step
        self.firstStep = firstStep
        self.previousStep = previousStep
    }
}

extension EMASpec {
    /// True when the update applies at `position`: n = s - s0 is a multiple of `every`.
    public func updates(at position: StepPosition) -> Bool {
        every == 1 || (position.step - position.firstStep) % every == 0
    }

    /// β_s for the update at `position`, in Double.
    ///
    /// n = s - s0, Δ = s - previous step. β_s = 0 while n ≤ after; then, with m = n - after:
    /// constant β (or pow(β, Δ) with per=step); warmup clamp(1 - (1 + m/γ)^(-power), min, β);
    /// tf min(β, (1 + m)/(10 + m)); power (1 - Δ/s)^(γ + 1). With decay_dtype=f32 the same
    /// formulas run in Float32 as torch evaluates them on a float32 tensor (ema-pytorch), and the
    /// Float32 result is the decay.
    public func decay(at position: StepPosition) -> Double {
        let steps = position.step - position.firstStep
        if steps <= after { return 0 }
        let m = Double(steps - after)
        let delta = Double(position.step - position.previousStep)
        if decayDType == .f32 { return Double(float32Decay(m)) }
        switch schedule {
        case .constant:
            return per == .step ? pow(decay, delta) : decay
        case .warmup:
            let value = 1 - pow(1 + m / gamma, -power)
            return max(min(value, decay), minDecay)
        case .tf:
            return min(decay, (1 + m) / (10 + m))
        case .power:
            switch clock {
            case .step: return pow(1 - delta / Double(position.step), gamma + 1)
            // ema-pytorch's KarrasEMA.beta: `(1. - 1. / (step + 1.)) ** (1. + gamma)`, step = n + 1.
            case .karras: return pow(1 - 1 / (m + 2), 1 + gamma)
            }
        }
    }

    /// ema-pytorch's `get_current_decay` on a float32 `epoch` (m): `1 + epoch / inv_gamma` in
    /// Float, `** -power` (`torchPow`), `1 - …` in Float, then `clamp(min, β)` with both bounds in Float.
    private func float32Decay(_ m: Double) -> Float {
        let ceiling = Float(decay)
        switch schedule {
        case .constant, .power:
            return ceiling
        case .warmup:
            let base = Float(m) / Float(gamma) + 1
            let value = 1 - Self.torchPow(base, -power)
            return min(max(value, Float(minDecay)), ceiling)
        case .tf:
            return min(ceiling, Float(1 + m) / Float(10 + m))
        }
    }

    /// torch's CPU `pow(float32 tensor, Python float)`: exponents -0.5, -1 and -2 run as rsqrt,
    /// reciprocal and 1/(b*b) in Float (its fast paths); any other through the Double pow, rounded once.
    static func torchPow(_ base: Float, _ exponent: Double) -> Float {
        switch exponent {
        case -0.5: return 1 / base.squareRoot()
        case -1: return 1 / base
        case -2: return 1 / (base * base)
        default: return Float(pow(Double(base), exponent))
        }
    }

    /// The Float32 coefficients of the update at `position`, or nil when the update does not
    /// apply there (`every`).
    public func coefficients(at position: StepPosition) -> EMA.Coefficients? {
        guard updates(at: position) else { return nil }
        return EMA.Coefficients(decay: decay(at: position), form: form)
    }
}

/// EDM2's power-function EMA helpers.
public enum PowerEMA {
    /// The exponent γ for a relative standard deviation σ_rel: the largest real root of
    /// γ³ + 7γ² + (16 − σ⁻²)γ + (12 − σ⁻²) = 0, valid for 0 < σ_rel < 0.2887.
    ///
    /// Found by bisection then Newton in Double; other root finders may differ in the last bits.
    public static func gamma(sigmaRel sigma: Double) -> Double {
        let t = 1 / (sigma * sigma)
        func f(_ g: Double) -> Double { ((g + 7) * g + (16 - t)) * g + (12 - t) }
        func df(_ g: Double) -> Double { (3 * g + 14) * g + (16 - t) }
        // The largest root lies above the larger critical point; f grows without bound after it.
        var lo = (-14 + (196 - 12 * (16 - t)).squareRoot()) / 6
        var hi = max(lo, 1) * 2
        while f(hi) < 0 { hi *= 2 }
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            if f(mid) < 0 { lo = mid } else { hi = mid }
        }
        var g = (lo + hi) / 2
        for _ in 0..<3 where df(g) != 0 { g -= f(g) / df(g) }
        return g
    }
}
