import EMALogFormats
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
}
