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
    /// β_s for the update at `position`, in Double.
    ///
    /// n = s - s0, Δ = s - previous step:
    /// constant β (or pow(β, Δ) with per=step); warmup clamp(1 - (1 + n/γ)^(-power), min, β);
    /// tf min(β, (1 + n)/(10 + n)); power (1 - Δ/s)^(γ + 1).
    public func decay(at position: StepPosition) -> Double {
        let n = Double(position.step - position.firstStep)
        let delta = Double(position.step - position.previousStep)
        switch schedule {
        case .constant:
            return per == .step ? pow(decay, delta) : decay
        case .warmup:
            let value = 1 - pow(1 + n / gamma, -power)
            return max(min(value, decay), minDecay)
        case .tf:
            return min(decay, (1 + n) / (10 + n))
        case .power:
            return pow(1 - delta / Double(position.step), gamma + 1)
        }
    }

    /// The Float32 coefficients of the update at `position`.
    public func coefficients(at position: StepPosition) -> EMA.Coefficients {
        EMA.Coefficients(decay: decay(at: position), form: form)
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
