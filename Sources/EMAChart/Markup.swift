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
                if scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// `text` cut to at most `limit` characters, with an ellipsis when cut (labels from a log can be
    /// of any length).
    public static func clipped(_ text: String, to limit: Int) -> String {
        text.count <= limit ? text : String(text.prefix(max(1, limit - 1))) + "…"
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
