/// Minimal JSON text building: quoted strings and round-trip numbers.
public enum JSONWriter {
    /// `text` as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A Double in the shortest form that reads back exactly; non-finite values as Python writes them.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return "\(value)"
    }

    /// An object of string values, keys sorted.
    public static func object(_ fields: [String: String]) -> String {
        "{" + fields.keys.sorted().map { "\(quoted($0)):\(quoted(fields[$0]!))" }.joined(separator: ",") + "}"
    }
}
