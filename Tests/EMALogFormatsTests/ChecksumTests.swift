import EMALogFormats
import Testing

@Suite struct ChecksumTests {
    // Values printed by Python's xxhash 3.x: hex(xxhash.xxh64(s).intdigest()).
    @Test(arguments: [
        ("", UInt64(0xEF46_DB37_51D8_E999)),
        ("a", UInt64(0xD24E_C4F1_A98C_6E5B)),
        ("abc", UInt64(0x44BC_2CF5_AD77_0999)),
        ("0123456789abcdef0123456789abcdef", UInt64(0x642A_9495_8E71_E6C5)),
    ])
    func xxh64MatchesTheReference(text: String, expected: UInt64) {
        #expect(Array(text.utf8).withUnsafeBytes { XXH64.hash($0) } == expected)
    }

    @Test func streamingEqualsOneShot() {
        let bytes: [UInt8] = Array(repeating: Array(0...255), count: 3).flatMap { $0 } + Array("xyz".utf8)
        #expect(bytes.withUnsafeBytes { XXH64.hash($0) } == 0xE921_A1B4_5BD7_79F8)
        for split in [1, 7, 31, 32, 33, 500] {
            var h = XXH64()
            bytes.withUnsafeBytes { b in
                h.update(UnsafeRawBufferPointer(rebasing: b[0..<split]))
                h.update(UnsafeRawBufferPointer(rebasing: b[split...]))
            }
            #expect(h.finalize() == 0xE921_A1B4_5BD7_79F8)
        }
    }

    @Test func crc32MatchesZip() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func npyHeaderIsAlignedAndDescribesTheArray() {
        let header = NPZ.npyHeader(descr: "<f4", shape: [2, 3])
        #expect(header.count % 64 == 0)
        let text = String(decoding: header[10...], as: UTF8.self)
        #expect(text.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
        #expect(String(decoding: NPZ.npyHeader(descr: "<i8", shape: [5])[10...], as: UTF8.self).contains("(5,)"))
    }
}
