#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How values map to positions along an axis.
public enum AxisScale: Sendable, Equatable {
    /// Evenly spaced values.
    case linear
    /// Powers of ten evenly spaced; values <= 0 cannot be drawn.
    case log
    /// Decays: 0.9, 0.99, 0.999 evenly spaced (the position is -log10(1 - v)); values >= 1 cannot
    /// be drawn. For an EMA's decay, whose interesting part is its nines.
    case nines

    /// Where `value` sits in the scale's own units, nil when the scale cannot show it.
    public func transform(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        switch self {
        case .linear: return value
        case .log: return value > 0 ? log10(value) : nil
        case .nines: return value < 1 && value >= 0 ? -log10(1 - value) : nil
        }
    }

    /// The value at `t` in the scale's own units.
    public func value(at t: Double) -> Double {
        switch self {
        case .linear: return t
        case .log: return pow(10, t)
        case .nines: return 1 - pow(10, -t)
        }
    }
}

/// One labelled tick.
public struct Tick: Sendable, Equatable {
    public var value: Double
    public var label: String
}

/// An axis: a scale over a domain (in the scale's own units), drawn over a pixel range.
public struct Axis: Sendable {
    public var scale: AxisScale
    /// The domain in the scale's units (`transform` of the values), never empty.
    public private(set) var lower: Double
    public private(set) var upper: Double
    /// The bounds ticks are chosen in: the domain before its room at the ends.
    private var tickLower = 0.0, tickUpper = 1.0
    /// Pixels: `lower` maps to `start`, `upper` to `end` (end < start for a y axis).
    public var start: Double
    public var end: Double
    /// Whether tick labels are step numbers (12k, 1.5M).
    public var isSteps: Bool

    /// An axis over the values `extent` (already in the scale's units), widened to nice bounds
    /// when `nice` (a y axis), padded when the extent is a single value.
    public init(scale: AxisScale, extent: (Double, Double)?, start: Double, end: Double, nice: Bool, isSteps: Bool = false) {
        self.scale = scale
        self.start = start
        self.end = end
        self.isSteps = isSteps
        var (lo, hi) = extent ?? (0, 1)
        if !(lo.isFinite && hi.isFinite) || lo > hi { (lo, hi) = (0, 1) }
        // Values near the ends of Double: the domain is held within ±max/8, so its width, its nice
        // bounds and every position computed from it stay finite (what lies beyond is clipped).
        let limit = Double.greatestFiniteMagnitude / 8
        lo = min(max(lo, -limit), limit)
        hi = min(max(hi, -limit), limit)
        if lo == hi {
            var pad = scale == .linear ? (isSteps ? 1 : abs(lo) * 0.05) : 0.5
            if !(pad >= Double.leastNormalMagnitude) || lo - pad == lo { pad = max(0.5, abs(lo) * 0.05) }
            lo -= pad
            hi += pad
            if scale == .nines { lo = max(lo, 0) }
        }
        if nice {
            if scale == .linear {
                let step = Self.niceStep((hi - lo) / 5)
                let niceLo = (lo / step).rounded(.down) * step, niceHi = (hi / step).rounded(.up) * step
                if niceLo.isFinite && niceHi.isFinite && niceHi > niceLo { (lo, hi) = (niceLo, niceHi) }
            } else if hi - lo >= 1 {
                // Whole decades or nines, forgiving the last bits (-log10(1 - 0.9999) is 4 within 1e-12).
                lo = (lo + 1e-9).rounded(.down)
                hi = (hi - 1e-9).rounded(.up)
            }
        }
        tickLower = lo
        tickUpper = hi
        if nice {
            // A little room at both ends, so a line along a bound is not cut in half by the frame
            // (ticks stay those of the nice bounds).
            let room = (hi - lo) * 0.02
            lo -= scale == .nines ? min(room, lo) : room
            hi += room
        }
        lower = lo
        upper = hi
    }

    /// The pixel for `t` in the scale's units.
    public func pixel(_ t: Double) -> Double {
        // Far outside the domain is drawn just outside it (clipped), never at an infinite position.
        let span = upper - lower
        let held = min(max(t, lower - span), upper + span)
        return start + (held - lower) / span * (end - start)
    }

    /// The pixel for a value, nil when the scale cannot show it.
    public func pixel(value: Double) -> Double? {
        scale.transform(value).map(pixel)
    }

    /// 1, 2 or 5 times a power of ten, the nearest at or above `rough`.
    static func niceStep(_ rough: Double) -> Double {
        guard rough > 0, rough.isFinite else { return 1 }
        let power = pow(10, floor(log10(rough)))
        let fraction = rough / power
        let nice: Double = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10
        return nice * power
    }

    /// Ticks inside the domain, about `target` of them, with labels.
    public func ticks(target: Int = 6) -> [Tick] {
        switch scale {
        case .linear:
            return linearTicks(target: target)
        case .log:
            let decades = decadeTicks(target: target)
            if decades.count >= 2 { return decades.map { Tick(value: $0, label: Self.label(log: $0)) } }
            let oneTwoFive = oneTwoFiveTicks()
            if oneTwoFive.count >= 3 { return oneTwoFive }
            return linearTicksInValues(target: target)
        case .nines:
            let nines = decadeTicks(target: target)
            if nines.count >= 2 { return nines.map { Tick(value: $0, label: Self.label(nines: $0)) } }
            return linearTicksInValues(target: target)
        }
    }

    /// The largest magnitude the ticks reach: one notation for the whole axis.
    private var magnitude: Double { max(abs(tickLower), abs(tickUpper)) }

    private func linearTicks(target: Int) -> [Tick] {
        var step = Self.niceStep((tickUpper - tickLower) / Double(max(1, target)))
        if isSteps { step = max(step, 1) }
        var ticks: [Tick] = []
        var k = (tickLower / step - 1e-9).rounded(.up)
        while k * step <= tickUpper + step * 1e-9, ticks.count < 50 {
            let v = k * step
            ticks.append(Tick(value: v, label: isSteps ? Self.stepLabel(v) : Self.label(v, step: step, magnitude: magnitude)))
            k += 1
        }
        return ticks
    }

    /// Whole units (decades, nines) inside the domain, thinned to about `target` at multiples of
    /// a nice interval (1e-300, 1e-200, ... rather than every 121st decade).
    private func decadeTicks(target: Int) -> [Double] {
        let first = (tickLower - 1e-9).rounded(.up), last = (tickUpper + 1e-9).rounded(.down)
        guard first <= last else { return [] }
        let count = last - first + 1
        let every = count <= Double(target) ? 1 : max(1, Self.niceStep(count / Double(target)))
        let start = (first / every).rounded(.up) * every
        return stride(from: start, through: last, by: every).map { $0 }
    }

    /// 1, 2 and 5 times each power of ten inside a log domain narrower than two decades.
    private func oneTwoFiveTicks() -> [Tick] {
        var ticks: [Tick] = []
        var decade = (tickLower - 1e-9).rounded(.down)
        while decade <= tickUpper, ticks.count < 50 {
            for m in [1.0, 2, 5] {
                let t = decade + log10(m)
                if t >= tickLower - 1e-9 && t <= tickUpper + 1e-9 {
                    let v = pow(10, decade) * m
                    ticks.append(Tick(value: t, label: Self.label(v, step: pow(10, decade), magnitude: abs(v))))
                }
            }
            decade += 1
        }
        return ticks
    }

    /// For a log or nines domain narrower than two whole units: nice steps of the values
    /// themselves, placed at their transformed positions.
    private func linearTicksInValues(target: Int) -> [Tick] {
        let a = scale.value(at: tickLower), b = scale.value(at: tickUpper)
        let step = Self.niceStep((b - a) / Double(max(1, target)))
        var ticks: [Tick] = []
        var k = (a / step - 1e-9).rounded(.up)
        while k * step <= b + step * 1e-9, ticks.count < 50 {
            if let t = scale.transform(k * step), t >= lower - 1e-12, t <= tickUpper + 1e-12 {
                ticks.append(Tick(value: t, label: Self.label(k * step, step: step, magnitude: max(abs(a), abs(b)))))
            }
            k += 1
        }
        return ticks
    }

    /// `value` with as many decimals as `step` needs; exponent form when the axis reaches very
    /// large or small magnitudes (`magnitude`, default the value's own), for every tick alike.
    public static func label(_ value: Double, step: Double, magnitude axis: Double? = nil) -> String {
        guard value.isFinite, step.isFinite, step > 0 else { return "" }
        if abs(value) < step * 1e-6 { return "0" }
        let magnitude = axis ?? abs(value)
        if magnitude >= 1e6 || magnitude < 1e-4 {
            let digits = max(0, Int(floor(log10(abs(value)))) - Int(floor(log10(step) + 1e-9)))
            return exponentForm(value, digits: min(digits, 6))
        }
        let decimals = max(0, -Int(floor(log10(step) + 1e-9)))
        return fixed(value, decimals: min(decimals, 12))
    }

    /// A step number: 950, 12k, 1.5M.
    static func stepLabel(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 1e9 { return exponentForm(value, digits: 2) }
        if magnitude >= 1_000_000, (value / 100_000).rounded() == value / 100_000 { return trimmed(value / 1_000_000) + "M" }
        if magnitude >= 10_000, (value / 100).rounded() == value / 100 { return trimmed(value / 1000) + "k" }
        return fixed(value, decimals: 0)
    }

    /// A decade 10^t: 0.01, 1, 1000, 1e-5.
    static func label(log t: Double) -> String {
        let k = Int(t.rounded())
        if k >= 0 && k <= 4 { return fixed(pow(10, Double(k)), decimals: 0) }
        if k < 0 && k >= -3 { return fixed(pow(10, Double(k)), decimals: -k) }
        return "1e\(k)"
    }

    /// A number of nines: 0, 0.9, 0.99, 0.999.
    static func label(nines t: Double) -> String {
        let k = Int(t.rounded())
        return k <= 0 ? "0" : "0." + String(repeating: "9", count: k)
    }

    private static func trimmed(_ v: Double) -> String {
        var text = fixed(v, decimals: 1)
        if text.hasSuffix(".0") { text.removeLast(2) }
        return text
    }

    static func fixed(_ v: Double, decimals: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([Int32(decimals), v]) { vsnprintf(&buffer, buffer.count, "%.*f", $0) }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text == "-0" || text.allSatisfy({ "-0.".contains($0) }) && text.hasPrefix("-") ? String(text.dropFirst()) : text
    }

    private static func exponentForm(_ v: Double, digits: Int) -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = withVaList([Int32(digits), v]) { vsnprintf(&buffer, buffer.count, "%.*e", $0) }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // 1.5e+06 -> 1.5e6, 2e-05 -> 2e-5
        guard let e = text.firstIndex(of: "e") else { return text }
        var mantissa = Substring(text[..<e])
        if mantissa.contains(".") {
            while mantissa.hasSuffix("0") { mantissa.removeLast() }
            if mantissa.hasSuffix(".") { mantissa.removeLast() }
        }
        var exponent = String(text[text.index(after: e)...])
        let negative = exponent.hasPrefix("-")
        exponent = String(exponent.drop { $0 == "+" || $0 == "-" || $0 == "0" })
        return mantissa + "e" + (negative ? "-" : "") + (exponent.isEmpty ? "0" : exponent)
    }
}
