/// One decoded metrics line: the step and its numeric values.
public struct MetricsLine: Sendable, Equatable {
    /// The training step (an integer >= 0).
    public var step: Int
    /// Numeric fields, nested objects flattened to `a/b`, in line order.
    public var values: [(key: String, value: Double)]
    /// Fields that are not numbers (null, string, boolean, array): the key and what it held.
    public var skipped: [(key: String, kind: String)]

    public static func == (a: MetricsLine, b: MetricsLine) -> Bool {
        a.step == b.step && a.values.elementsEqual(b.values, by: { $0.key == $1.key && $0.value.bitPattern == $1.value.bitPattern })
            && a.skipped.elementsEqual(b.skipped, by: { $0 == $1 })
    }
}

extension MetricsLine {
    /// Decodes one JSON Lines record. `NaN`, `Infinity`, `-Infinity` are accepted as values.
    public static func decode(_ line: UnsafeRawBufferPointer) throws(MetricsError) -> MetricsLine {
        let json: JSONValue
        do { json = try JSONParser.parse(line, allowNonFinite: true) } catch { throw .notJSON(error) }
        guard case let .object(members) = json else { throw .notAnObject(kind: json.kindName) }
        var step: Int?
        var out = MetricsLine(step: 0, values: [], skipped: [])
        var keys = Set<String>()
        for member in members where member.key == "step" {
            guard step == nil else { throw .duplicateKey("step") }
            guard case let .number(n) = member.value else { throw .invalidStep(member.value.kindName) }
            guard n.isIntegerLiteral, let value = Int(n.text), StepNumber.isValid(value) else { throw .invalidStep(n.text) }
            step = value
        }
        guard let step else { throw .missingStep }
        out.step = step
        try flatten(members.filter { $0.key != "step" }, prefix: "", into: &out, keys: &keys)
        return out
    }

    /// Decodes one line given as bytes.
    public static func decode(_ line: [UInt8]) throws(MetricsError) -> MetricsLine {
        let result: Result<MetricsLine, MetricsError> = line.withUnsafeBytes { buffer in
            Result { () throws(MetricsError) -> MetricsLine in try decode(buffer) }
        }
        return try result.get()
    }

    private static func flatten(_ members: [JSONMember], prefix: String, into out: inout MetricsLine,
                                keys: inout Set<String>) throws(MetricsError) {
        for member in members {
            let key = prefix + member.key
            switch member.value {
            case let .object(inner):
                try flatten(inner, prefix: key + "/", into: &out, keys: &keys)
            case let .number(n):
                guard isNew(key, out, &keys) else { throw .duplicateKey(key) }
                out.values.append((key, n.double))
            default:
                guard isNew(key, out, &keys) else { throw .duplicateKey(key) }
                out.skipped.append((key, member.value.kindName))
            }
        }
    }

    /// Whether `key` is not yet in the line: a scan while the line is short (most are: cheaper
    /// than hashing), a set once it is long.
    private static func isNew(_ key: String, _ out: MetricsLine, _ keys: inout Set<String>) -> Bool {
        let count = out.values.count + out.skipped.count
        if count < 32 {
            return !out.values.contains { $0.key == key } && !out.skipped.contains { $0.key == key }
        }
        if keys.isEmpty { keys = Set(out.values.map(\.key) + out.skipped.map(\.key)) }
        return keys.insert(key).inserted
    }
}
