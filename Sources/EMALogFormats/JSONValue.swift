/// A parsed JSON value; objects keep their members in file order (duplicates are the caller's concern).
public indirect enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(JSONNumber)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// A short name of the kind of value, for messages.
    public var kindName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

/// One `"key": value` pair of a JSON object.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue
    public init(key: String, value: JSONValue) {
        self.key = key
        self.value = value
    }
}

/// A JSON number kept as its literal text, so integers stay exact and doubles round correctly.
public struct JSONNumber: Sendable, Equatable {
    /// The literal as written (`-12`, `0.5e3`, or `NaN`, `Infinity`, `-Infinity` when allowed).
    public let text: String
    /// True when the literal has no fraction and no exponent.
    public let isIntegerLiteral: Bool

    /// Whether `text` is the way emalog writes the number (`JSONEncoding` made it), to be written as it is.
    public let isEmalogText: Bool

    public init(text: String, isIntegerLiteral: Bool) {
        self.text = text
        self.isIntegerLiteral = isIntegerLiteral
        isEmalogText = false
    }

    /// Equal as numbers written: the same literal (however it was made).
    public static func == (a: JSONNumber, b: JSONNumber) -> Bool { a.text == b.text && a.isIntegerLiteral == b.isIntegerLiteral }

    /// A number as `JSONWriter` writes it (a Float's shortest text stays a Float's).
    init(emalogText text: String, isIntegerLiteral: Bool) {
        self.text = text
        self.isIntegerLiteral = isIntegerLiteral
        isEmalogText = true
    }

    /// The value as an exact Int64, when the literal is an integer that fits.
    public var int64: Int64? { isIntegerLiteral ? Int64(text) : nil }

    /// The value as a Double (correctly rounded), non-finite tokens included.
    public var double: Double {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text) ?? .nan
        }
    }
}
