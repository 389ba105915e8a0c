/// One EMA profile: a decay, a schedule that varies it per step, and the arithmetic form of the update.
///
/// `EMASpec` is a value: two specs are the same profile when every parameter is equal; the `name`
/// is only a label and does not take part in `hasSameProfile(as:)`.
public struct EMASpec: Sendable, Hashable {
    /// How the per-step decay β_s is derived from the spec's decay.
    public enum Schedule: String, Sendable, Hashable, CaseIterable {
        /// β_s = β.
        case constant
        /// β_s = clamp(1 - (1 + n/gamma)^(-power), min, β) (timm ModelEmaV3, diffusers, ema-pytorch).
        case warmup
        /// β_s = min(β, (1 + n)/(10 + n)) (tf.train.ExponentialMovingAverage with num_updates).
        case tf
        /// β_s = (1 - Δ/s)^(gamma + 1) (EDM2 power-function EMA).
        case power
    }

    /// The arithmetic of one update, each reproducing a reference implementation bit for bit.
    public enum Form: String, Sendable, Hashable, CaseIterable {
        /// `shadow = c1 * θ + c2 * shadow`, no FMA (the reference PyTorch recipe).
        case seed
        /// torch's fused `lerp_` (timm ModelEmaV3, torch AveragedModel, EDM2).
        case lerp
        /// `shadow = shadow - w * (shadow - θ)`, no FMA (diffusers EMAModel, TF).
        case sub
        /// `shadow = fma(-w, shadow - θ, shadow)`: diffusers EMAModel with `foreach=True`, whose
        /// `_foreach_sub_(…, alpha=w)` torch's CPU kernel fuses.
        case subFMA = "sub-fma"
    }

    /// Whether a constant decay applies once per ingested step or once per training step.
    public enum Per: String, Sendable, Hashable, CaseIterable {
        /// β once per ingested step, like calling `ema.update()` every k steps.
        case update
        /// pow(β, Δ): the EMA of weights held constant over a gap of Δ steps.
        case step
    }

    /// Which count of steps a power schedule runs on.
    public enum Clock: String, Sendable, Hashable, CaseIterable {
        /// EDM2: β_s = (1 - Δ/s)^(γ + 1) on the step number s.
        case step
        /// ema-pytorch's KarrasEMA: β = (1 - 1/(n + 1))^(1 + γ) on its own count of updates
        /// n = s - s0 + 1 (the first update, n = 1, a copy).
        case karras
    }

    /// The precision the schedule's decay is evaluated in before the update's coefficients are rounded.
    public enum DecayDType: String, Sendable, Hashable, CaseIterable {
        /// Double, the contract's default.
        case f64
        /// Float32 tensor arithmetic, as ema-pytorch computes its decay (then read back as a Double).
        case f32
    }

    /// The track's label; defaults to a name derived from the parameters.
    public var name: String
    /// β, the decay (0 ≤ β < 1); unused by the power schedule.
    public var decay: Double
    public var schedule: Schedule
    public var form: Form
    public var per: Per
    /// warmup: the step scale (default 1); power: the exponent γ.
    public var gamma: Double
    /// warmup: the exponent (default exactly 2/3).
    public var power: Double
    /// warmup: the lower clamp of β_s (default 0).
    public var minDecay: Double
    /// power: σ_rel when the profile was given that way (gamma is then derived from it).
    public var sigmaRel: Double?
    /// Steps (n ≤ after) whose update makes the shadow the step's weights (β_s = 0, through the
    /// form); the schedule then counts n - after. Default 0. (update_after_step, update_starting_at_step.)
    public var after: Int
    /// The update applies only at steps with n a multiple of `every`; other steps leave the shadow
    /// as it is. Default 1. (ema-pytorch update_every, Lightning update_every_n_steps.)
    public var every: Int
    /// Double (default) or Float32 schedule arithmetic.
    public var decayDType: DecayDType
    /// power: the step count β runs on (default `step`, EDM2's).
    public var clock: Clock = .step

    /// A constant-decay, seed-form profile named `ema-<decay>`.
    public init(decay: Double) {
        self.init(name: nil, decay: decay)
    }

    /// A profile with explicit parameters; `name: nil` derives one.
    public init(name: String?, decay: Double, schedule: Schedule = .constant, form: Form = .seed,
                per: Per = .update, gamma: Double? = nil, power: Double = 2.0 / 3.0,
                minDecay: Double = 0, sigmaRel: Double? = nil, after: Int = 0, every: Int = 1,
                decayDType: DecayDType = .f64) {
        self.decay = decay
        self.schedule = schedule
        self.form = form
        self.per = per
        self.gamma = gamma ?? 1
        self.power = power
        self.minDecay = minDecay
        self.sigmaRel = sigmaRel
        self.after = after
        self.every = every
        self.decayDType = decayDType
        self.name = ""
        self.name = name ?? defaultName
    }

    /// True when both specs describe the same arithmetic (names are ignored).
    public func hasSameProfile(as other: EMASpec) -> Bool {
        var a = self, b = other
        a.name = ""; b.name = ""
        a.sigmaRel = nil; b.sigmaRel = nil
        return a == b
    }

    /// The parameters that matter for this schedule, as `key=value` pairs in a fixed order; `after`,
    /// `every` and `decay_dtype` appear only when they differ from their defaults (0, 1, f64), so a
    /// profile that does not use them keeps the canonical spec it always had.
    public var canonical: String {
        var parts: [String] = []
        if schedule != .power { parts.append("decay=\(Self.format(decay))") }
        parts.append("schedule=\(schedule.rawValue)")
        switch schedule {
        case .constant: parts.append("per=\(per.rawValue)")
        case .warmup:
            parts.append("gamma=\(Self.format(gamma))")
            parts.append("power=\(Self.format(power))")
            parts.append("min=\(Self.format(minDecay))")
        case .tf: break
        case .power:
            parts.append("gamma=\(Self.format(gamma))")
            if clock != .step { parts.append("clock=\(clock.rawValue)") }
        }
        if after != 0 { parts.append("after=\(after)") }
        if every != 1 { parts.append("every=\(every)") }
        if decayDType != .f64 { parts.append("decay_dtype=\(decayDType.rawValue)") }
        parts.append("form=\(form.rawValue)")
        return parts.joined(separator: ",")
    }

    /// `canonical` with the name in front: a spec string that parses back to this profile.
    public var description: String { "name=\(name),\(canonical)" }

    public var defaultName: String {
        var name = schedule == .power ? "ema-power-\(Self.format(gamma))" : "ema-\(Self.format(decay))"
        if schedule != .constant && schedule != .power { name += "-\(schedule.rawValue)" }
        if clock != .step { name += "-\(clock.rawValue)" }
        if per == .step { name += "-perstep" }
        if after != 0 { name += "-after\(after)" }
        if every != 1 { name += "-every\(every)" }
        if decayDType != .f64 { name += "-\(decayDType.rawValue)" }
        if form != .seed { name += "-\(form.rawValue)" }
        return name
    }

    /// Shortest decimal that reads back as the same Double (integers without a fraction).
    public static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
