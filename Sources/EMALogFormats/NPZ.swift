/// NumPy `.npy` / `.npz` encoding, for inspecting tensors outside PyTorch.
public enum NPZ {
    /// The numpy descr for a dtype (`<f4`, `<i8`, `|b1` …); BF16 has none and is written widened to `<f4`.
    public static func descr(_ dtype: DType) -> String {
        switch dtype {
        case .f64: "<f8"
        case .f32, .bf16: "<f4"
        case .f16: "<f2"
        case .i64: "<i8"
        case .i32: "<i4"
        case .i16: "<i2"
        case .i8: "|i1"
        case .u64: "<u8"
        case .u32: "<u4"
        case .u16: "<u2"
        case .u8: "|u1"
        case .bool: "|b1"
        }
    }

    /// A `.npy` v1.0 header for a C-order array.
    public static func npyHeader(descr: String, shape: [Int]) -> [UInt8] {
        let dims = shape.count == 1 ? "\(shape[0])," : shape.map(String.init).joined(separator: ", ")
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
        while (10 + dict.utf8.count + 1) % 64 != 0 { dict += " " }
        dict += "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        out.append(UInt8(dict.utf8.count & 0xFF))
        out.append(UInt8(dict.utf8.count >> 8))
        out.append(contentsOf: dict.utf8)
        return out
    }

    /// One stored (uncompressed) entry of a zip archive.
    public struct Entry: Sendable, Equatable {
        /// The file name inside the archive (`<tensor>.npy`).
        public var name: String
        /// CRC-32 of the entry's bytes.
        public var crc: UInt32
        /// The entry's size in bytes (stored: compressed = uncompressed).
        public var size: Int
        /// Where its local header starts in the archive.
        public var offset: Int

        /// An entry of `size` bytes with checksum `crc`, its local header at `offset`.
        public init(name: String, crc: UInt32, size: Int, offset: Int) {
            self.name = name
            self.crc = crc
            self.size = size
            self.offset = offset
        }
    }

    /// The local file header that precedes an entry's bytes (sizes and offsets must fit in 32 bits).
    public static func localHeader(_ entry: Entry) -> [UInt8] {
        let name = Array(entry.name.utf8)
        var out: [UInt8] = []
        u32(0x0403_4B50, &out); u16(20, &out); u16(0x0800, &out); u16(0, &out); u16(0, &out); u16(0x21, &out)
        u32(entry.crc, &out); u32(UInt32(entry.size), &out); u32(UInt32(entry.size), &out)
        u16(name.count, &out); u16(0, &out); out += name
        return out
    }

    /// The central directory and its end record, for entries whose data ends at `offset`.
    public static func centralDirectory(_ entries: [Entry], at offset: Int) -> [UInt8] {
        var central: [UInt8] = []
        for entry in entries {
            let name = Array(entry.name.utf8)
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0x0800, &central)
            u16(0, &central); u16(0, &central); u16(0x21, &central)
            u32(entry.crc, &central); u32(UInt32(entry.size), &central); u32(UInt32(entry.size), &central)
            u16(name.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(UInt32(entry.offset), &central); central += name
        }
        var out = central
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(entries.count, &out); u16(entries.count, &out)
        u32(UInt32(central.count), &out); u32(UInt32(offset), &out); u16(0, &out)
        return out
    }

    /// A zip archive (stored, no compression) holding one `<name>.npy` per entry.
    public static func archive(_ entries: [(name: String, npy: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        var stored: [Entry] = []
        for entry in entries {
            let item = Entry(name: entry.name + ".npy", crc: CRC32.checksum(entry.npy), size: entry.npy.count, offset: out.count)
            out += localHeader(item) + entry.npy
            stored.append(item)
        }
        return out + centralDirectory(stored, at: out.count)
    }

    private static func u16(_ v: Int, _ a: inout [UInt8]) { a.append(UInt8(v & 0xFF)); a.append(UInt8((v >> 8) & 0xFF)) }
    private static func u32(_ v: UInt32, _ a: inout [UInt8]) { for k in 0..<4 { a.append(UInt8((v >> (8 * UInt32(k))) & 0xFF)) } }
}

/// CRC-32 (IEEE 802.3), as zip uses.
public enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The CRC-32 of `bytes`.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { update(0, $0) }
    }

    /// The CRC-32 of the bytes `crc` covers followed by `bytes` (start from 0).
    public static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c = ~crc
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return ~c
    }
}
