import EMALogFormats

/// The text columns every backend stores the same way, parsed and validated on the way back: a
/// tensor's shape, a step's metadata, an ingest's command line.
public enum StoredText {
    /// Why `name` cannot name a log or a run (a log's id is a run's default name), or nil: 1 to
    /// 200 characters, none a control character (a name is printed on terminals and in reports).
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        var problems: [String] = []
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) { problems.append("it holds control characters") }
        if name.count > 200 { problems.append("it has \(name.count) characters (200 at most)") }
        return problems.isEmpty ? nil : problems.joined(separator: "; ")
    }

    /// `shape` as every backend stores it: a JSON array of dimensions (what `shape(_:)` reads).
    public static func text(ofShape shape: [Int]) -> String {
        var json = JSONWriter()
        json.array { json in for dim in shape { json.value(dim) } }
        return json.take()
    }

    /// A command line as every backend stores it: a JSON array of strings (what `stringArray` reads).
    public static func text(ofArguments arguments: [String]) -> String {
        var json = JSONWriter()
        json.array { json in for argument in arguments { json.value(argument) } }
        return json.take()
    }

    /// A stored shape: a JSON array of integers >= 0 (`[]` for a 0-d tensor).
    public static func shape(_ text: String) -> [Int]? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]") else { return nil }
        let inner = bytes[1..<(bytes.count - 1)]
        if inner.allSatisfy({ $0 == UInt8(ascii: " ") }) { return [] }
        var dims: [Int] = []
        for part in inner.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let digits = part.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                .reversed().drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.reversed()
            guard !digits.isEmpty, digits.count <= 19, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            var dim = 0
            for digit in digits {
                let (times, o1) = dim.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int(digit - 0x30))
                guard !o1, !o2 else { return nil }
                dim = sum
            }
            dims.append(dim)
        }
        return dims
    }

    /// A JSON object whose values are all strings, as the metadata of a step is stored.
    public static func stringObject(_ text: String) -> [String: String]? {
        var bytes = Array(text.utf8)
        guard case let .object(members)? = try? bytes.withUnsafeMutableBytes({ b throws(JSONError) in
            try JSONParser.parse(UnsafeRawBufferPointer(b))
        }) else { return nil }
        var out: [String: String] = [:]
        for member in members {
            guard case let .string(value) = member.value, out.updateValue(value, forKey: member.key) == nil else { return nil }
        }
        return out
    }

    /// A JSON array whose elements are all strings, as an ingest's command line is stored.
    public static func stringArray(_ text: String) -> [String]? {
        var bytes = Array(text.utf8)
        guard case let .array(elements)? = try? bytes.withUnsafeMutableBytes({ b throws(JSONError) in
            try JSONParser.parse(UnsafeRawBufferPointer(b))
        }) else { return nil }
        var out: [String] = []
        for element in elements {
            guard case let .string(value) = element else { return nil }
            out.append(value)
        }
        return out
    }
}
