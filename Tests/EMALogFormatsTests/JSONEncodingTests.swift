import EMALogFormats
import Testing

@Suite struct JSONEncodingTests {
    struct Track: Encodable {
        var name: String
        var snapshotSteps: [Int]
        enum CodingKeys: String, CodingKey {
            case name
            case snapshotSteps = "snapshot_steps"
        }
    }

    struct Summary: Encodable {
        var path: String
        var steps: Int
        var firstStep: Int?
        var ratio: Double?
        var small: Float
        var big: UInt64
        var ok: Bool
        var tracks: [Track]
        var metadata: [String: String]
        var raw: JSONValue
        enum CodingKeys: String, CodingKey {
            case path, steps
            case firstStep = "first_step"
            case ratio, small, big, ok, tracks, metadata, raw
        }
    }

    @Test func fieldsInDeclarationOrderNilAsNullDictionariesSorted() throws {
        let value = Summary(path: "a \"b\"\n", steps: 3, firstStep: nil, ratio: 2.5, small: 0.1, big: .max, ok: true,
                            tracks: [Track(name: "slow", snapshotSteps: [5, 10]), Track(name: "é", snapshotSteps: [])],
                            metadata: ["z": "1", "a": "2"], raw: .object([JSONMember(key: "k", value: .array([.null, .bool(false)]))]))
        let text = try JSONEncoding.text(value)
        #expect(text == #"{"path":"a \"b\"\n","steps":3,"first_step":null,"ratio":2.5,"small":0.1,"#
            + #""big":18446744073709551615,"ok":true,"tracks":[{"name":"slow","snapshot_steps":[5,10]},{"name":"é","snapshot_steps":[]}],"#
            + #""metadata":{"a":"2","z":"1"},"raw":{"k":[null,false]}}"#, "\(text)")
    }

    @Test func numbersAsJSONWriterWritesThem() throws {
        #expect(try JSONEncoding.text([0.1, 1e300, -0.0, .nan, .infinity]) == "[0.1,1e+300,-0.0,NaN,Infinity]")
        #expect(try JSONEncoding.text([Int64.min]) == "[-9223372036854775808]")
        #expect(try JSONEncoding.text(Optional<Int>.none) == "null")
    }

    @Test func aParsedDocumentIsWrittenBackAsEmalogWritesIt() throws {
        let parsed = try JSONParser.parse(Array(#"{ "b" : 1.50, "a" : [1, 2e0, "x"] }"#.utf8))
        #expect(try JSONEncoding.text(parsed) == #"{"b":1.5,"a":[1,2.0,"x"]}"#)
    }

    struct Twice: Encodable {
        enum Key: String, CodingKey { case a, b }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(1, forKey: .a)
            try c.encode(2, forKey: .b)
            try c.encode(3, forKey: .a)
        }
    }

    @Test func everyStringKeyedDictionaryIsSortedAKeyGivenTwiceKeepsItsPlaceFloatsStayFloats() throws {
        let counts = Dictionary(uniqueKeysWithValues: (0..<50).map { ("k\($0)", $0) })
        let text = try JSONEncoding.text(counts)
        #expect(text == "{" + counts.keys.sorted().map { "\"\($0)\":\(counts[$0]!)" }.joined(separator: ",") + "}")
        #expect(try JSONEncoding.text(["b": [1.5], "a": [Double.nan]]) == #"{"a":[NaN],"b":[1.5]}"#)
        #expect(try JSONEncoding.text(Twice()) == #"{"a":3,"b":2}"#)
        #expect(try JSONEncoding.text([Float(1e10), Float(0.1)]) == "[1e+10,0.1]")
    }
}
