/// A small XML reader for tests of emalog's SVG: parses a document into elements and checks that it
/// is well formed (tags balanced, attributes quoted, entities known, no text outside the root).
public final class XMLNode {
    public let name: String
    public let attributes: [String: String]
    public private(set) var children: [XMLNode] = []
    /// The text directly inside, entities decoded.
    public private(set) var text = ""

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    /// Every element below (depth first), this one included.
    public var all: [XMLNode] { [self] + children.flatMap(\.all) }

    /// Elements below named `name` whose `class` holds every word of `classes`.
    public func find(_ name: String, class classes: String = "") -> [XMLNode] {
        let wanted = classes.split(separator: " ").map(String.init)
        return all.filter { node in
            let have = (node.attributes["class"] ?? "").split(separator: " ").map(String.init)
            return node.name == name && wanted.allSatisfy(have.contains)
        }
    }

    /// The text of this element and everything inside it.
    public var allText: String { text + children.map(\.allText).joined() }

    public struct Malformed: Error, CustomStringConvertible {
        public var description: String
    }

    public static func parse(_ document: String) throws -> XMLNode {
        var parser = Parser(bytes: Array(document.utf8))
        return try parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var i = 0

        func fail(_ what: String) -> Malformed { Malformed(description: "\(what) at byte \(i)") }

        mutating func skipSpace() { while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 } }

        func starts(_ s: String) -> Bool { bytes[i...].starts(with: Array(s.utf8)) }

        mutating func document() throws -> XMLNode {
            skipSpace()
            if starts("<?xml") {
                guard let end = find("?>") else { throw fail("unterminated declaration") }
                i = end + 2
            }
            skipSpace()
            let root = try element()
            skipSpace()
            guard i == bytes.count else { throw fail("content after the root element") }
            return root
        }

        func find(_ s: String) -> Int? {
            let pattern = Array(s.utf8)
            var k = i
            while k + pattern.count <= bytes.count {
                if bytes[k..<k + pattern.count].elementsEqual(pattern) { return k }
                k += 1
            }
            return nil
        }

        mutating func name() throws -> String {
            let start = i
            while i < bytes.count, bytes[i] != 0x20, bytes[i] != 0x3E, bytes[i] != 0x2F, bytes[i] != 0x3D,
                  bytes[i] != 0x0A, bytes[i] != 0x09, bytes[i] != 0x0D { i += 1 }
            guard i > start else { throw fail("empty name") }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard text.allSatisfy({ $0.isLetter || $0.isNumber || "-_:.".contains($0) }) else { throw fail("bad name '\(text)'") }
            return text
        }

        mutating func element() throws -> XMLNode {
            guard i < bytes.count, bytes[i] == 0x3C else { throw fail("expected '<'") }
            i += 1
            let tag = try name()
            var attributes: [String: String] = [:]
            while true {
                skipSpace()
                guard i < bytes.count else { throw fail("unterminated tag <\(tag)>") }
                if bytes[i] == 0x2F {
                    guard i + 1 < bytes.count, bytes[i + 1] == 0x3E else { throw fail("bad '/' in <\(tag)>") }
                    i += 2
                    return XMLNode(name: tag, attributes: attributes)
                }
                if bytes[i] == 0x3E { i += 1; break }
                let key = try name()
                guard i < bytes.count, bytes[i] == 0x3D, i + 1 < bytes.count, bytes[i + 1] == 0x22 || bytes[i + 1] == 0x27
                else { throw fail("attribute \(key) of <\(tag)> is not quoted") }
                let quote = bytes[i + 1]
                i += 2
                let start = i
                while i < bytes.count, bytes[i] != quote {
                    guard bytes[i] != 0x3C else { throw fail("'<' inside attribute \(key)") }
                    i += 1
                }
                guard i < bytes.count else { throw fail("unterminated attribute \(key)") }
                guard attributes[key] == nil else { throw fail("attribute \(key) twice in <\(tag)>") }
                attributes[key] = try decode(bytes[start..<i])
                i += 1
            }
            let node = XMLNode(name: tag, attributes: attributes)
            while true {
                let start = i
                while i < bytes.count, bytes[i] != 0x3C { i += 1 }
                node.text += try decode(bytes[start..<i])
                guard i < bytes.count else { throw fail("<\(tag)> is not closed") }
                if starts("</") {
                    i += 2
                    let closing = try name()
                    guard closing == tag else { throw fail("</\(closing)> closes <\(tag)>") }
                    skipSpace()
                    guard i < bytes.count, bytes[i] == 0x3E else { throw fail("bad closing tag") }
                    i += 1
                    return node
                }
                node.children.append(try element())
            }
        }

        func decode(_ slice: ArraySlice<UInt8>) throws -> String {
            let text = String(decoding: slice, as: UTF8.self)
            guard text.contains("&") else { return text }
            var out = ""
            var rest = Substring(text)
            while let amp = rest.firstIndex(of: "&") {
                out += rest[..<amp]
                guard let semi = rest[amp...].firstIndex(of: ";") else { throw fail("unterminated entity") }
                let entity = rest[rest.index(after: amp)..<semi]
                switch entity {
                case "amp": out += "&"
                case "lt": out += "<"
                case "gt": out += ">"
                case "quot": out += "\""
                case "apos": out += "'"
                default:
                    guard entity.hasPrefix("#"), let code = UInt32(entity.dropFirst()), let scalar = Unicode.Scalar(code)
                    else { throw fail("unknown entity &\(entity);") }
                    out.unicodeScalars.append(scalar)
                }
                rest = rest[rest.index(after: semi)...]
            }
            return out + rest
        }
    }
}
