extension EMASpec {
    /// The keys a long-form spec may use.
    public static let keys = ["name", "decay", "schedule", "gamma", "power", "min", "sigma_rel", "clock", "per", "after", "every",
                              "decay_dtype", "form"]

    /// Parses `0.999` (a constant track named `ema-0.999`) or the long form
    /// `name=slow,decay=0.9999,schedule=warmup,gamma=1,power=2/3,min=0,form=lerp`, optionally with
    /// `after=N`, `every=K` and `decay_dtype=f32`.
    ///
    /// Numbers may be decimals or fractions `a/b`, evaluated in Double.
    public init(parsing text: String) throws(EMASpecError) {
        func fail(_ reason: String) -> EMASpecError { EMASpecError(spec: text, reason: reason) }
        let trimmed = text.trimmingSpaces
        if !trimmed.contains("=") {
            guard let decay = Self.number(trimmed) else {
                throw fail("expected a decay such as 0.999 or key=value pairs (keys: \(Self.keys.joined(separator: ", ")))")
            }
            try Self.checkDecay(decay, fail)
            self.init(decay: decay)
            return
        }
        var fields: [String: String] = [:]
        for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard pair.count == 2 else { throw fail("'\(part)' is not key=value") }
            let key = String(pair[0]).trimmingSpaces, value = String(pair[1]).trimmingSpaces
            guard Self.keys.contains(key) else {
                throw fail("unknown key '\(key)' (keys: \(Self.keys.joined(separator: ", ")))")
            }
            guard fields[key] == nil else { throw fail("key '\(key)' is given twice") }
            fields[key] = value
        }
        func numeric(_ key: String) throws(EMASpecError) -> Double? {
            guard let raw = fields[key] else { return nil }
            guard let value = Self.number(raw), value.isFinite else { throw fail("\(key)=\(raw) is not a number") }
            return value
        }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _: T.Type) throws(EMASpecError) -> T?
        where T.RawValue == String {
            guard let raw = fields[key] else { return nil }
            guard let value = T(rawValue: raw) else {
                throw fail("\(key)=\(raw) is not one of \(T.allCases.map(\.rawValue).joined(separator: "|"))")
            }
            return value
        }
        func count(_ key: String, least: Int) throws(EMASpecError) -> Int? {
            guard let raw = fields[key] else { return nil }
            guard let value = Int(raw), value >= least else { throw fail("\(key)=\(raw) is not a whole number >= \(least)") }
            return value
        }
        let schedule = try choice("schedule", Schedule.self) ?? .constant
        let after = try count("after", least: 0)
        let every = try count("every", least: 1)
        let decayDType = try choice("decay_dtype", DecayDType.self)
        let form = try choice("form", Form.self) ?? .seed
        let per = try choice("per", Per.self)
        var gamma = try numeric("gamma")
        let power = try numeric("power")
        let minDecay = try numeric("min")
        let sigmaRel = try numeric("sigma_rel")
        let decay = try numeric("decay")
        let clock = try choice("clock", Clock.self)
        if clock != nil, schedule != .power { throw fail("clock applies to schedule=power only") }

        func refuse(_ key: String, _ value: Any?) throws(EMASpecError) {
            if value != nil { throw fail("\(key) does not apply to schedule=\(schedule.rawValue)") }
        }
        if per != nil, schedule != .constant { throw fail("per applies to schedule=constant only") }
        if per == .step {
            if every != nil { throw fail("every does not apply to per=step (pow(β, Δ) already spans the gap)") }
            if decayDType == .f32 { throw fail("decay_dtype=f32 does not apply to per=step") }
            if after != nil { throw fail("after does not apply to per=step (a gap across the start would need a copy inside it)") }
        }
        switch schedule {
        case .constant, .tf:
            try refuse("gamma", gamma); try refuse("power", power); try refuse("min", minDecay)
            try refuse("sigma_rel", sigmaRel)
        case .warmup:
            try refuse("sigma_rel", sigmaRel)
            if let gamma, gamma <= 0 { throw fail("gamma must be > 0 for warmup") }
            if let power, power <= 0 { throw fail("power must be > 0") }
        case .power:
            try refuse("decay", decay); try refuse("min", minDecay); try refuse("power", power)
            try refuse("after", after); try refuse("every", every); try refuse("decay_dtype", decayDType)
            if let sigmaRel {
                guard gamma == nil else { throw fail("give gamma or sigma_rel, not both") }
                guard sigmaRel > 0, sigmaRel < 0.2887 else { throw fail("sigma_rel must be in (0, 0.2887)") }
                gamma = PowerEMA.gamma(sigmaRel: sigmaRel)
            }
            guard let g = gamma else { throw fail("schedule=power needs gamma or sigma_rel") }
            guard g > -1 else { throw fail("gamma must be > -1") }
        }
        if schedule != .power {
            guard let decay else { throw fail("decay is required") }
            try Self.checkDecay(decay, fail)
            if let minDecay, !(minDecay >= 0 && minDecay <= decay) { throw fail("min must be in [0, decay]") }
        }
        let name = fields["name"]
        if let name {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw fail("name '\(name)' must be non-empty letters, digits, '-', '_' or '.'")
            }
        }
        self.init(name: nil, decay: decay ?? 0, schedule: schedule, form: form, per: per ?? .update,
                  gamma: gamma, power: power ?? 2.0 / 3.0, minDecay: minDecay ?? 0, sigmaRel: sigmaRel,
                  after: after ?? 0, every: every ?? 1, decayDType: decayDType ?? .f64)
        self.clock = clock ?? .step
        self.name = name ?? defaultName
    }

    private static func checkDecay(_ decay: Double, _ fail: (String) -> EMASpecError) throws(EMASpecError) {
        guard decay >= 0, decay < 1 else { throw fail("decay must be in [0, 1), got \(decay)") }
    }

    /// A decimal or a fraction `a/b`, evaluated in Double.
    static func number(_ text: String) -> Double? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return Double(text)
        case 2:
            guard let a = Double(parts[0]), let b = Double(parts[1]), b != 0 else { return nil }
            return a / b
        default: return nil
        }
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
