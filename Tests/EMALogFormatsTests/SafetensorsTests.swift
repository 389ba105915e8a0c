import EMALogFormats
import FormatsTestSupport
import Foundation
import Testing

@Suite struct SafetensorsTests {
    func decode(_ bytes: [UInt8]) throws(SafetensorsError) -> SafetensorsHeader {
        let result: Result<SafetensorsHeader, SafetensorsError> = bytes.withUnsafeBytes { b in
            Result { () throws(SafetensorsError) -> SafetensorsHeader in
                let n = try Safetensors.headerLength(prefix: b, fileSize: b.count)
                return try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: b[8..<(8 + n)]), fileSize: b.count)
            }
        }
        return try result.get()
    }

    func sample() -> SafetensorsBuilder {
        var b = SafetensorsBuilder(step: 7)
        b.add("w", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6])
        b.add("count", dtype: .i64, shape: [], bytes: [9, 0, 0, 0, 0, 0, 0, 0])
        b.add("h", dtype: .bf16, shape: [2], bytes: [0x80, 0x3F, 0x00, 0x40])
        return b
    }

    func expectError(_ bytes: [UInt8], _ expected: SafetensorsError, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(throws: expected, sourceLocation: sourceLocation) { try decode(bytes) }
    }

    @Test func decodesAValidFile() throws {
        let header = try decode(sample().bytes())
        #expect(header.tensors.map(\.name) == ["w", "count", "h"])
        #expect(header.tensors[0].dtype == .f32 && header.tensors[0].shape == [2, 3] && header.tensors[0].byteRange == 0..<24)
        #expect(header.tensors[1].shape == [] && header.tensors[1].elementCount == 1)
        #expect(header.metadata == ["step": "7"])
        #expect(header.dataLength == 36)
    }

    @Test func everyTruncatedPrefixIsRejected() {
        let full = sample().bytes()
        for length in 0..<full.count {
            #expect(throws: SafetensorsError.self) { try decode(Array(full[0..<length])) }
            if length >= 8 + sample().headerJSON().utf8.count {
                #expect(throws: SafetensorsError.truncated(offset: length, needed: full.count - length)) { try decode(Array(full[0..<length])) }
            }
        }
    }

    @Test func headerLengthPastEndOfFileIsTruncation() {
        var bytes = sample().bytes()
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(5000).littleEndian, Array.init))
        expectError(bytes, .truncated(offset: bytes.count, needed: 5000 - (bytes.count - 8)))
    }

    @Test func absurdHeaderLengthIsRefused() {
        var bytes = sample().bytes()
        bytes.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64.max.littleEndian, Array.init))
        expectError(bytes, .headerTooLarge(length: UInt64.max, limit: Safetensors.maxHeaderLength))
    }

    @Test func headerMustBeUTF8JSONObject() throws {
        expectError(SafetensorsBuilder.file(header: "{\"a\":1}", data: []).map { $0 == 0x61 ? 0xFF : $0 }, .headerNotUTF8)
        #expect(throws: SafetensorsError.self) { try decode(SafetensorsBuilder.file(header: "{\"w\": ", data: [])) }
        expectError(SafetensorsBuilder.file(header: "[1, 2]", data: []), .headerNotObject)
        if case .headerNotJSON = try #require(throws: SafetensorsError.self, performing: { try decode(SafetensorsBuilder.file(header: "{nope}", data: [])) }) {} else {
            Issue.record("expected headerNotJSON")
        }
    }

    @Test func headerPaddingWithSpacesIsAccepted() throws {
        let b = sample()
        let header = b.headerJSON() + "     "
        #expect(try decode(SafetensorsBuilder.file(header: header, data: b.tensors.flatMap(\.bytes))).tensors.count == 3)
    }

    @Test func duplicateTensorNamesAreRefused() {
        let header = #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
        expectError(SafetensorsBuilder.file(header: header, data: Array(repeating: 0, count: 8)), .duplicateTensor(name: "a"))
    }

    @Test func unknownDTypeIsRefused() {
        let header = #"{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}"#
        expectError(SafetensorsBuilder.file(header: header, data: [0]), .unknownDType(tensor: "a", dtype: "F8_E4M3"))
    }

    @Test(arguments: [
        (#"[-1]"#, "dimension -1 is negative"),
        (#"[1.5]"#, "dimension is not an integer"),
        (#"["2"]"#, "dimension is a string"),
        (#"[99999999999999999999]"#, "dimension 99999999999999999999 overflows"),
        (#"[4294967296, 4294967296]"#, "element count overflows"),
        (#"[4611686018427387904]"#, "byte count overflows"),
    ])
    func badShapesAreRefused(shape: String, reason: String) {
        let header = #"{"a":{"dtype":"F32","shape":"# + shape + #","data_offsets":[0,4]}}"#
        expectError(SafetensorsBuilder.file(header: header, data: [0, 0, 0, 0]), .invalidShape(tensor: "a", reason: reason))
    }

    @Test func missingOrMistypedFieldsAreRefused() {
        let cases: [(String, String)] = [
            (#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, "'dtype' is missing"),
            (#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, "'shape' is missing"),
            (#"{"a":{"dtype":"F32","shape":[1]}}"#, "'data_offsets' is missing"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#, "'data_offsets' is not [begin, end]"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}"#, "data_offsets [4, 0] end before they begin"),
            (#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}"#, "data_offsets [-4, 0] are out of range"),
            (#"{"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}"#, "'dtype' is not a string"),
            (#"{"a":[1,2]}"#, "entry is an array, not an object"),
        ]
        for (header, reason) in cases {
            expectError(SafetensorsBuilder.file(header: header, data: [0, 0, 0, 0]), .invalidEntry(tensor: "a", reason: reason))
        }
    }

    @Test func byteCountMustMatchShapeAndDType() {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#
        expectError(SafetensorsBuilder.file(header: header, data: [0, 0, 0, 0]), .byteCountMismatch(tensor: "a", expected: 8, actual: 4))
    }

    @Test func offsetsMustBeContiguousAndNonOverlapping() {
        let gap = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}}"#
        expectError(SafetensorsBuilder.file(header: gap, data: [0, 0, 0, 0, 0]), .nonContiguousData(tensor: "b", expectedStart: 2, actualStart: 3))
        let overlap = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#
        expectError(SafetensorsBuilder.file(header: overlap, data: [0, 0, 0]), .overlappingData(tensor: "b", previous: "a"))
        let late = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}"#
        expectError(SafetensorsBuilder.file(header: late, data: [0, 0, 0]), .nonContiguousData(tensor: "a", expectedStart: 0, actualStart: 1))
        let outOfRange = #"{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#
        expectError(SafetensorsBuilder.file(header: outOfRange, data: [0]), .truncated(offset: 8 + outOfRange.utf8.count + 1, needed: 1))
    }

    @Test func bytesAfterTheLastTensorAreRefused() {
        expectError(sample().bytes() + [1, 2, 3], .trailingBytes(count: 3))
    }

    @Test func metadataMustBeStrings() {
        let header = #"{"__metadata__":{"step":5},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}"#
        expectError(SafetensorsBuilder.file(header: header, data: [0]), .invalidMetadata(reason: "key 'step' is a number"))
    }

    @Test func encodedHeaderRoundTripsAndIsAligned() throws {
        let layouts = [TensorLayout(name: "x\"y", dtype: .f16, shape: [3]), TensorLayout(name: "z", dtype: .bool, shape: [])]
        let head = Safetensors.encodeHeader(layouts, metadata: ["step": "12", "note": "a,b"])
        #expect(head.count % 8 == 0)
        let file = head + Array(repeating: 0, count: 7)
        let header = try decode(file)
        #expect(header.tensors.map(\.name) == ["x\"y", "z"])
        #expect(header.metadata == ["step": "12", "note": "a,b"])
    }

    @Test func allSpecDTypesAreKnown() throws {
        for (dtype, width) in [("F64", 8), ("F32", 4), ("F16", 2), ("BF16", 2), ("I64", 8), ("I32", 4), ("I16", 2), ("I8", 1), ("U8", 1), ("BOOL", 1)] {
            let header = #"{"a":{"dtype":""# + dtype + #"","shape":[2],"data_offsets":[0,"# + String(2 * width) + "]}}"
            let decoded = try decode(SafetensorsBuilder.file(header: header, data: Array(repeating: 0, count: 2 * width)))
            #expect(decoded.tensors[0].dtype.rawValue == dtype)
        }
    }
}
