#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The keys of the line decoded last, so the next line, which almost always repeats them in the
/// same order, reuses their Strings instead of building and hashing new ones.
public struct MetricsKeyCache {
    var bytes: [[UInt8]] = []
    var strings: [String] = []

    public init() {}
}

extension MetricsLine {
    /// The common shape of a metrics line, decoded without building a JSON tree: one flat object
    /// of printable-ASCII keys without escapes and plain JSON numbers, an integer `"step"` >= 0,
    /// no key twice. Returns nil for anything else, which `decode` then handles (or refuses) in
    /// full, so both paths give the same result for every line this one accepts.
    public static func decodeFast(_ line: UnsafeRawBufferPointer, cache: inout MetricsKeyCache) -> MetricsLine? {
        guard let base = line.baseAddress else { return nil }
        let p = base.assumingMemoryBound(to: UInt8.self)
        let n = line.count
        var i = 0
        @inline(__always) func skipSpace() {
            while i < n, p[i] == 0x20 || p[i] == 0x09 || p[i] == 0x0D || p[i] == 0x0A { i += 1 }
        }
        skipSpace()
        guard i < n, p[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        skipSpace()
        var out = MetricsLine(step: 0, values: [], skipped: [])
        var step: Int?
        var position = 0
        var allCached = true
        if i < n && p[i] == UInt8(ascii: "}") {
            return nil  // no "step": the full decoder says so
        }
        while true {
            // Key.
            guard i < n, p[i] == UInt8(ascii: "\"") else { return nil }
            i += 1
            let keyStart = i
            while i < n, p[i] != UInt8(ascii: "\"") {
                guard p[i] >= 0x20, p[i] < 0x7F, p[i] != UInt8(ascii: "\\") else { return nil }
                i += 1
            }
            guard i < n else { return nil }
            let key = UnsafeBufferPointer(start: p + keyStart, count: i - keyStart)
            i += 1
            skipSpace()
            guard i < n, p[i] == UInt8(ascii: ":") else { return nil }
            i += 1
            skipSpace()
            // Number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
            let numberStart = i
            if i < n && p[i] == UInt8(ascii: "-") { i += 1 }
            guard i < n, p[i] >= 0x30, p[i] <= 0x39 else { return nil }
            if p[i] == 0x30 { i += 1 } else { while i < n, p[i] >= 0x30, p[i] <= 0x39 { i += 1 } }
            var isInteger = true
            if i < n && p[i] == UInt8(ascii: ".") {
                isInteger = false
                i += 1
                guard i < n, p[i] >= 0x30, p[i] <= 0x39 else { return nil }
                while i < n, p[i] >= 0x30, p[i] <= 0x39 { i += 1 }
            }
            if i < n && (p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E")) {
                isInteger = false
                i += 1
                if i < n && (p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-")) { i += 1 }
                guard i < n, p[i] >= 0x30, p[i] <= 0x39 else { return nil }
                while i < n, p[i] >= 0x30, p[i] <= 0x39 { i += 1 }
            }
            let numberEnd = i
            // A delimiter follows inside the line, so strtod (which would go on through `0x1f`,
            // say) stops exactly at the end of the literal, inside the buffer.
            guard numberEnd < n, [0x20, 0x09, 0x0D, 0x0A, UInt8(ascii: ","), UInt8(ascii: "}")].contains(p[numberEnd]) else { return nil }

            if key.count == 4 && key.elementsEqual("step".utf8) {
                guard step == nil, isInteger, p[numberStart] != UInt8(ascii: "-"), numberEnd - numberStart <= 18 else { return nil }
                var value = 0
                for k in numberStart..<numberEnd { value = value * 10 + Int(p[k] - 0x30) }
                guard value <= StepNumber.largest else { return nil }  // the full decoder refuses it
                step = value
            } else {
                guard let value = parseDouble(p + numberStart, count: numberEnd - numberStart) else { return nil }
                let name: String
                if position < cache.bytes.count && cache.bytes[position].elementsEqual(key) {
                    name = cache.strings[position]
                } else {
                    allCached = false
                    name = String(decoding: key, as: UTF8.self)
                    if position < cache.bytes.count {
                        cache.bytes[position] = Array(key)
                        cache.strings[position] = name
                    } else {
                        cache.bytes.append(Array(key))
                        cache.strings.append(name)
                    }
                }
                out.values.append((name, value))
                position += 1
            }
            skipSpace()
            guard i < n else { return nil }
            if p[i] == UInt8(ascii: ",") {
                i += 1
                skipSpace()
                continue
            }
            guard p[i] == UInt8(ascii: "}") else { return nil }
            i += 1
            break
        }
        skipSpace()
        guard i == n, let step else { return nil }
        if position != cache.bytes.count {
            allCached = false
            cache.bytes.removeSubrange(position...)
            cache.strings.removeSubrange(position...)
        }
        // The keys of the line before had no repeats; a line that differs is checked.
        if !allCached {
            var seen = Set<String>()
            for (key, _) in out.values where !seen.insert(key).inserted {
                cache = MetricsKeyCache()
                return nil
            }
        }
        out.step = step
        return out
    }

    /// A validated JSON number literal to the nearest Double (glibc's strtod is correctly rounded,
    /// as Swift's own conversion is). Should the process run in a locale whose decimal point is not
    /// `.`, strtod stops early, the end check fails and the full decoder takes the line.
    private static func parseDouble(_ start: UnsafePointer<UInt8>, count: Int) -> Double? {
        var end: UnsafeMutablePointer<CChar>?
        let value: Double = start.withMemoryRebound(to: CChar.self, capacity: count + 1) { strtod($0, &end) }
        guard let end, Int(bitPattern: end) == Int(bitPattern: start + count) else { return nil }
        return value
    }
}
