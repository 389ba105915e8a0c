import EMALogFormats
import Testing

@Suite struct JSONParserTests {
    func parse(_ text: String, nonFinite: Bool = false) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8), allowNonFinite: nonFinite)
    }

    @Test func parsesEveryKind() throws {
        let value = try parse(#" {"a": [1, -2.5e3, true, false, null], "b": {"c": "x\n\u00e9\ud83d\ude00"}} "#)
        guard case let .object(members) = value else { Issue.record("not an object"); return }
        #expect(members.map(\.key) == ["a", "b"])
        #expect(members[1].value == .object([JSONMember(key: "c", value: .string("x\né😀"))]))
        guard case let .array(items) = members[0].value, case let .number(n) = items[1] else { Issue.record("no array"); return }
        #expect(n.double == -2500 && !n.isIntegerLiteral)
    }

    @Test func integersStayExact() throws {
        guard case let .number(n) = try parse("9007199254740993") else { return }
        #expect(n.int64 == 9_007_199_254_740_993)
    }

    @Test func nonFiniteTokensOnlyWhenAllowed() throws {
        #expect(throws: JSONError.self) { try parse("NaN") }
        guard case let .array(v) = try parse("[NaN, Infinity, -Infinity]", nonFinite: true) else { return }
        #expect(v.count == 3)
        if case let .number(n) = v[2] { #expect(n.double == -.infinity) }
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"abc", "\"\\x\"", "tru", "{\"a\" 1}", "[1] 2",
                      "\"\u{01}\"", "\"\\ud800\"", "1e", "{1:2}"])
    func malformedTextIsRejected(text: String) {
        #expect(throws: JSONError.self) { try parse(text) }
    }

    @Test func invalidUTF8InStringsIsRejected() {
        #expect(throws: JSONError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test func deepNestingIsRejectedNotCrashed() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONError.self) { try parse(deep) }
    }

    @Test func writerQuotesAndNumbersRoundTrip() throws {
        let text = "a\"b\\c\n\u{01}é"
        #expect(try parse(JSONWriter.quoted(text)) == .string(text))
        for x in [0.1, 1e-300, -2.5, 1.0 / 3] {
            guard case let .number(n) = try parse(JSONWriter.number(x)) else { return }
            #expect(n.double == x)
        }
    }
}
