import EMALogFormats
import Testing

/// The one JSON writer: commas, nesting, escapes, numbers, nulls, and streaming with `take()`.
@Suite struct JSONWriterTests {
    @Test func membersAndElementsAreSeparatedByCommasAtEveryDepth() {
        var json = JSONWriter()
        json.object { json in
            json.field("a", 1)
            json.field("b", [String]())
            json.array("c") { json in
                json.value(1)
                json.object { json in json.field("d", true); json.field("e", nil as Int?) }
                json.array { _ in }
                json.value("x")
            }
            json.field("f", ["z": "1", "y": "2"])
            json.field("g", [3, 4])
        }
        #expect(json.text == #"{"a":1,"b":[],"c":[1,{"d":true,"e":null},[],"x"],"f":{"y":"2","z":"1"},"g":[3,4]}"#)
    }

    @Test func stringsAreEscapedAndNumbersReadBackExactly() {
        var json = JSONWriter()
        json.array { json in
            json.value("q\"b\\n\n\t\u{1}é")
            json.value(0.1)
            json.value(-0.0)
            json.value(Double.nan)
            json.value(-Double.infinity)
            json.value(1e-300)
            json.value(Int.min)
        }
        #expect(json.text == #"["q\"b\\n\n\t\u0001é",0.1,-0.0,NaN,-Infinity,1e-300,-9223372036854775808]"#)
        #expect(JSONWriter.number(Float(0.1)) == "0.1" && JSONWriter.number(Float.infinity) == "Infinity")
        #expect(JSONWriter.object([:]) == "{}" && JSONWriter.object(["k": "v"]) == #"{"k":"v"}"#)
    }

    @Test func takeStreamsTheTextAndKeepsTheOpenContainers() {
        var json = JSONWriter()
        var streamed = ""
        json.object { json in
            json.object("t") { json in
                for name in ["a", "b"] {
                    json.array(name) { json in streamed += json.take() + "1,2" }
                }
            }
        }
        streamed += json.take()
        #expect(streamed == #"{"t":{"a":[1,2],"b":[1,2]}}"#)
        #expect(json.text.isEmpty)
    }
}
