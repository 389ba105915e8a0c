import EMALogFormats
import FormatsTestSupport
import Testing

@Suite struct MetricsLineTests {
    func decode(_ text: String) throws(MetricsError) -> MetricsLine { try MetricsLine.decode(Array(text.utf8)) }

    @Test func flattensNestedObjectsAndSkipsNonNumbers() throws {
        let line = try decode(#"{"step": 12, "loss": 0.5, "eval": {"acc": 0.9, "top": {"k5": 1}}, "tag": "x", "flag": true, "none": null, "v": [1]}"#)
        #expect(line.step == 12)
        #expect(line.values.map(\.key) == ["loss", "eval/acc", "eval/top/k5"])
        #expect(line.values.map(\.value) == [0.5, 0.9, 1])
        #expect(line.skipped.map(\.key) == ["tag", "flag", "none", "v"])
    }

    @Test func pythonNonFiniteValuesAreAccepted() throws {
        let line = try decode(#"{"step": 1, "a": NaN, "b": Infinity, "c": -Infinity}"#)
        #expect(line.values[0].value.isNaN && line.values[1].value == .infinity && line.values[2].value == -.infinity)
    }

    @Test func valuesRoundTripExactly() throws {
        #expect(try decode(#"{"step": 1, "x": 0.30000000000000004}"#).values[0].value == 0.30000000000000004)
    }

    @Test func errorsSayWhat() {
        #expect(throws: MetricsError.notAnObject(kind: "an array")) { try decode("[1, 2]") }
        #expect(throws: MetricsError.missingStep) { try decode(#"{"loss": 1}"#) }
        #expect(throws: MetricsError.invalidStep("1.5")) { try decode(#"{"step": 1.5}"#) }
        #expect(throws: MetricsError.invalidStep("-3")) { try decode(#"{"step": -3}"#) }
        #expect(throws: MetricsError.invalidStep("a string")) { try decode(#"{"step": "3"}"#) }
        #expect(throws: MetricsError.duplicateKey("a/b")) { try decode(#"{"step": 1, "a/b": 1, "a": {"b": 2}}"#) }
        #expect(throws: MetricsError.self) { try decode(#"{"step": 1, "loss": }"#) }
    }

    /// The fast path accepts the common lines, and every line it accepts decodes to exactly what
    /// the full decoder gives (values compared bit for bit); a line the full decoder refuses is
    /// never accepted. Lines are fed in sequence, so the key cache is exercised too.
    @Test func fastPathAgreesWithTheFullDecoder() {
        var g: UInt64 = 12345
        func next(_ n: Int) -> Int {
            g = g &* 6364136223846793005 &+ 1442695040888963407
            return Int((g >> 33) % UInt64(n))
        }
        let keys = ["\"loss\"", "\"lr\"", "\"train/acc_top1_long_name\"", "\"step\"", "\"a\\\"b\"", "\"é\"", "\"\"", "\"loss\"", "\"x/y\""]
        let values = ["0", "-0", "1", "0.5", "1e400", "-1e-400", "2.2250738585072011e-308", "0.30000000000000004", "1.5E+3",
                      "123456789012345678901234567890", "01", "1.", ".5", "-", "NaN", "-Infinity", "true", "null", "\"s\"",
                      "{\"a\": 1}", "[1]", "4.9e-324", "1E5", "-12.5e-3"]
        let spaces = ["", " ", "  ", "\t", "\r"]
        var cache = MetricsKeyCache()
        var accepted = 0
        for round in 0..<20_000 {
            var text: String
            if round % 3 == 0 {
                text = "{\"step\": \(round), \"loss\": 0.\(round), \"lr\": 1e-\(round % 9), \"train/acc_top1_long_name\": \(round % 7)}"
            } else {
                var members: [String] = []
                if next(8) != 0 { members.append("\"step\":" + (next(10) == 0 ? values[next(values.count)] : "\(next(1000))")) }
                for _ in 0..<next(5) { members.append(keys[next(keys.count)] + spaces[next(spaces.count)] + ":" + spaces[next(spaces.count)] + values[next(values.count)]) }
                if next(2) == 0 {
                    var shuffler = SeededGenerator(seed: UInt64(round))
                    members.shuffle(using: &shuffler)
                }
                text = spaces[next(spaces.count)] + "{" + members.joined(separator: "," + spaces[next(spaces.count)]) + "}" + spaces[next(spaces.count)]
                if next(20) == 0 { text += "x" }
                if next(20) == 0 { text.removeLast() }
            }
            let bytes = Array(text.utf8)
            let fast = bytes.withUnsafeBytes { MetricsLine.decodeFast($0, cache: &cache) }
            let full = Result { () throws(MetricsError) -> MetricsLine in try MetricsLine.decode(bytes) }
            if let fast {
                accepted += 1
                #expect((try? full.get()) == fast, "\(text)")
            }
            if round % 3 == 0 { #expect(fast != nil, "\(text)") }
        }
        #expect(accepted > 7000)
    }
}
