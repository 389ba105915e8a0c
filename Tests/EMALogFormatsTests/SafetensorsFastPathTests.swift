@testable import EMALogFormats
import FormatsTestSupport
import Testing

/// The header reader without a JSON tree (`Safetensors.fastDecodeHeader`) gives exactly what the
/// tree gives for every header it takes, and leaves every other header (escapes, unknown keys,
/// numbers written otherwise, any broken rule) to the tree, which words the refusal.
struct SafetensorsFastPathTests {
    func both(_ text: String) -> (fast: SafetensorsHeader?, tree: Result<SafetensorsHeader, SafetensorsError>) {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw in
            (Safetensors.fastDecodeHeader(raw), Result { () throws(SafetensorsError) in try Safetensors.decodeHeaderTree(raw) })
        }
    }

    @Test func headersAsWritersWriteThemReadTheSameBothWays() throws {
        var generator = SeededGenerator(seed: 7)
        let dtypes: [DType] = [.f32, .f16, .bf16, .f64, .i64, .i32, .i8, .u8, .bool]
        for round in 0..<200 {
            var builder = SafetensorsBuilder()
            for t in 0..<Int.random(in: 0...40, using: &generator) {
                let dtype = dtypes.randomElement(using: &generator)!
                let shape = (0..<Int.random(in: 0...3, using: &generator)).map { _ in Int.random(in: 0...5, using: &generator) }
                let count = shape.reduce(1, *) * dtype.byteWidth
                builder.add("layers.\(t).w\(round % 3 == 0 ? "é" : "")", dtype: dtype, shape: shape, bytes: [UInt8](repeating: 1, count: count))
            }
            builder.metadata = round % 2 == 0 ? ["step": String(round), "note": "a b/c"] : [:]
            var header = builder.headerJSON()
            if round % 4 == 1 { header = header.replacingOccurrences(of: ",", with: ", ").replacingOccurrences(of: ":", with: " :\n") + "   " }
            let (fast, tree) = both(header)
            let expected = try tree.get()
            #expect(fast == expected, "\(header)")
            let quick = Array(header.utf8).withUnsafeBytes { Safetensors.quickMetadata($0) }
            #expect(quick == expected.metadata, "\(header)")
        }
    }

    @Test func everythingElseGoesToTheTree() throws {
        let entry = "{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"
        let cases = [
            "{\"a\\u0062\":\(entry)}",                                            // an escape in a name
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}",  // an unknown key
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}",     // a dimension as a fraction
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2e0],\"data_offsets\":[0,8]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}",      // a leading zero (not JSON)
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",       // bytes that do not match
            "{\"a\":\(entry),\"a\":\(entry)}",                                    // a name twice
            "{\"a\":\(entry),\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}",  // a gap
            "{\"__metadata__\":{\"step\":1},\"a\":\(entry)}",                        // metadata not a string
            "{\"__metadata__\":{},\"__metadata__\":{},\"a\":\(entry)}",
            "{\"a\":{\"dtype\":\"X9\",\"shape\":[2],\"data_offsets\":[0,8]}}",
            "{\"a\":\(entry)} x", "[1]", "{\"a\":\(entry)", "",
        ]
        for text in cases {
            let (fast, tree) = both(text)
            #expect(fast == nil, "\(text)")
            // What the tree says of it is what decodeHeader says.
            let public_ = Array(text.utf8).withUnsafeBytes { raw in Result { () throws(SafetensorsError) in try Safetensors.decodeHeader(raw) } }
            #expect("\(public_)" == "\(tree)", "\(text)")
        }
    }
}
