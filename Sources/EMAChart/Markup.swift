/// Text for SVG and HTML: escaped so that nothing taken from a log (a metric key, a track name, a
/// path) can end an element, open one, or run a script.
public enum Markup {
    /// `text` escaped for element content and quoted attribute values: `&`, `<`, `>`, `"` and `'`
    /// become entities; characters XML 1.0 does not allow (C0 controls other than tab, newline and
    /// carriage return, U+FFFE, U+FFFF) become U+FFFD, so the document stays well formed.
    public static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                // Also the bidirectional overrides and isolates (U+202A-202E, U+2066-2069): a key
                // cannot make the text around it read backwards.
                let v = scalar.value
                if v < 0x20 || v == 0x7F || v == 0xFFFE || v == 0xFFFF || (0x202A...0x202E).contains(v)
                    || (0x2066...0x2069).contains(v) {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// `text` cut to at most `limit` characters, the middle replaced by an ellipsis (labels from a
    /// log can be of any length; two long keys that differ only at the end stay distinguishable).
    public static func clipped(_ text: String, to limit: Int) -> String {
        guard text.count > limit else { return text }
        let keep = max(2, limit) - 1
        return String(text.prefix(keep - keep / 3)) + "…" + String(text.suffix(keep / 3))
    }

    /// A coordinate with one decimal (a tenth of a pixel), without a trailing `.0`: short and
    /// exact enough for any screen. Never prints NaN or infinity (callers only pass finite values;
    /// anything else is drawn at 0 rather than making the document invalid).
    public static func coordinate(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let tenths = (value * 10).rounded()
        guard abs(tenths) < 1e15 else { return "0" }
        let t = Int(tenths)
        let whole = t / 10, fraction = abs(t % 10)
        let sign = t < 0 && whole == 0 ? "-" : ""
        return fraction == 0 ? "\(sign)\(whole)" : "\(sign)\(whole).\(fraction)"
    }
}
