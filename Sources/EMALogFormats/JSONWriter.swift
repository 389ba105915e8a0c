/// Writes JSON text the one way emalog writes it: no spaces, members in the order given, strings
/// escaped, integers in decimal, Doubles in the shortest form that reads back exactly (non-finite
/// values as Python writes them).
///
/// Containers are opened with `object { }` and `array { }`, values and `key: value` members added
/// inside them; the writer places the commas. `take()` hands back the text written so far and keeps
/// the open containers, so a large document (tensor values) can be streamed piece by piece.
///
/// ```swift
/// var json = JSONWriter()
/// json.object { json in
///     json.field("step", 3)
///     json.field("keys", ["loss", "lr"])
/// }
/// json.text  // {"step":3,"keys":["loss","lr"]}
/// ```
public struct JSONWriter {
    /// The text written so far (since the last `take()`).
    public private(set) var text = ""
    /// How many items each open container holds, innermost last.
    private var counts: [Int] = []
    /// True between a member's key and its value.
    private var afterKey = false

    public init() {}

    /// Returns the text written so far and clears it; open containers stay open.
    public mutating func take() -> String {
        defer { text = "" }
        return text
    }

    // MARK: Containers

    /// An object whose members `body` writes.
    public mutating func object(_ body: (inout JSONWriter) throws -> Void) rethrows {
        try container("{", "}", body)
    }

    /// An array whose elements `body` writes.
    public mutating func array(_ body: (inout JSONWriter) throws -> Void) rethrows {
        try container("[", "]", body)
    }

    /// A member `key` whose value is an object.
    public mutating func object(_ key: String, _ body: (inout JSONWriter) throws -> Void) rethrows {
        self.key(key)
        try object(body)
    }

    /// A member `key` whose value is an array.
    public mutating func array(_ key: String, _ body: (inout JSONWriter) throws -> Void) rethrows {
        self.key(key)
        try array(body)
    }

    /// The key of the next member; its value follows.
    public mutating func key(_ key: String) {
        separate()
        text += Self.quoted(key) + ":"
        afterKey = true
    }

    // MARK: Values (array elements, or the value after `key`)

    public mutating func value(_ string: String) { put(Self.quoted(string)) }
    /// An integer, or null.
    public mutating func value(_ integer: Int?) { put(integer.map { String($0) } ?? "null") }

    public mutating func value(_ integer: UInt64) { put(String(integer)) }
    /// A Double in its shortest exact form, or null.
    public mutating func value(_ number: Double?) { put(number.map(Self.number) ?? "null") }
    public mutating func value(_ bool: Bool) { put(bool ? "true" : "false") }

    // MARK: Members

    public mutating func field(_ key: String, _ string: String) { self.key(key); value(string) }
    /// `key` with an integer value, or null.
    public mutating func field(_ key: String, _ integer: Int?) { self.key(key); value(integer) }
    /// `key` with a Double value, or null.
    public mutating func field(_ key: String, _ number: Double?) { self.key(key); value(number) }
    public mutating func field(_ key: String, _ bool: Bool) { self.key(key); value(bool) }

    /// `key` with an array of strings.
    public mutating func field(_ key: String, _ strings: [String]) {
        array(key) { json in for string in strings { json.value(string) } }
    }

    /// `key` with an array of integers.
    public mutating func field(_ key: String, _ integers: [Int]) {
        array(key) { json in for integer in integers { json.value(integer) } }
    }

    /// `key` with an object of string values, keys sorted.
    public mutating func field(_ key: String, _ strings: [String: String]) {
        object(key) { json in json.members(strings) }
    }

    /// The members of an object of string values, keys sorted.
    public mutating func members(_ strings: [String: String]) {
        for name in strings.keys.sorted() { field(name, strings[name]!) }
    }

    // MARK: Text of single values

    /// `text` as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        // Most names need no escape: copied whole (a 100k-tensor header spent 8% of a shadow here).
        if text.utf8.allSatisfy({ $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) {
            return "\"" + text + "\""
        }
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

    /// A Float in the shortest form that reads back as the same Float; non-finite values as Python writes them.
    public static func number(_ value: Float) -> String {
        value.isFinite ? "\(value)" : number(Double(value))
    }

    /// An object of string values, keys sorted.
    public static func object(_ fields: [String: String]) -> String {
        var json = JSONWriter()
        json.object { json in json.members(fields) }
        return json.text
    }

    // MARK: Commas

    private mutating func container(_ open: String, _ close: String, _ body: (inout JSONWriter) throws -> Void) rethrows {
        put(open)
        counts.append(0)
        try body(&self)
        counts.removeLast()
        text += close
    }

    /// Writes a value: after a key as it is, else as the next item of the open container.
    mutating func put(_ literal: String) {
        separate()
        text += literal
    }

    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard let count = counts.last else { return }
        if count > 0 { text += "," }
        counts[counts.count - 1] = count + 1
    }
}
