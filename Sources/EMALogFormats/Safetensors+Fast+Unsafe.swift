/// A safetensors header read straight into its tensors, without building a JSON tree: the shape
/// every writer emits (strings without escapes, integer literals, the three keys of an entry, a
/// metadata object of strings). Anything else, and any header breaking a rule, gives nil: the
/// full decoder (`Safetensors.decodeHeader`) then reads it and words the refusal, so both paths
/// accept the same headers with the same result and refuse the same ones with the same error.
/// For a header of 100k tensors this is a few times faster than the tree (no value per token,
/// no dictionary per entry).
extension Safetensors {
    static func fastDecodeHeader(_ header: UnsafeRawBufferPointer) -> SafetensorsHeader? {
        var reader = FastReader(bytes: header)
        return reader.header(dataOffset: 8 + header.count)
    }

    /// A header's `__metadata__` alone (the step of a file, before it is read), its tensor entries
    /// skipped over; nil where `fastDecodeHeader` would be (then the whole header is read). The
    /// header is not validated: the file's read validates it.
    public static func quickMetadata(_ header: UnsafeRawBufferPointer) -> [String: String]? {
        guard String(validating: header, as: UTF8.self) != nil else { return nil }
        var reader = FastReader(bytes: header)
        return reader.metadataOnly()
    }
}

private struct FastReader {
    let bytes: UnsafeRawBufferPointer
    var at = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func header(dataOffset: Int) -> SafetensorsHeader? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var tensors: [TensorInfo] = []
        var metadata: [String: String] = [:]
        var seen = NameSet(capacity: bytes.count / 48)
        var sawMetadata = false
        if !take(UInt8(ascii: "}")) {
            repeat {
                skipSpace()
                let keyStart = at + 1
                guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
                if key == "__metadata__" {
                    guard !sawMetadata, let m = metadataObject() else { return nil }
                    sawMetadata = true
                    metadata = m
                } else {
                    let name = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(keyStart + key.utf8.count)])
                    guard seen.insert(name), let tensor = entry(name: key) else { return nil }
                    tensors.append(tensor)
                }
            } while take(UInt8(ascii: ","))
            guard take(UInt8(ascii: "}")) else { return nil }
        }
        skipSpace()
        guard at == bytes.count else { return nil }
        // Tiling from 0 in offset order, as `checkLayout` requires (a header breaking it goes the slow way).
        tensors.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }
        var end = 0
        for tensor in tensors {
            guard tensor.byteRange.lowerBound == end else { return nil }
            end = tensor.byteRange.upperBound
            guard end <= Safetensors.maxDataLength else { return nil }
        }
        return SafetensorsHeader(tensors: tensors, metadata: metadata, dataOffset: dataOffset, dataLength: end)
    }

    mutating func metadataOnly() -> [String: String]? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var metadata: [String: String] = [:]
        if take(UInt8(ascii: "}")) { return metadata }
        repeat {
            guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
            if key == "__metadata__" {
                guard let m = metadataObject() else { return nil }
                metadata = m
            } else {
                guard skipValue() else { return nil }
            }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}")) ? metadata : nil
    }

    /// Moves past one JSON value without reading it (strings with escapes give false).
    private mutating func skipValue() -> Bool {
        skipSpace()
        var depth = 0
        while at < bytes.count {
            switch bytes[at] {
            case UInt8(ascii: "\""):
                guard string() != nil else { return false }
                if depth == 0 { return true }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return true }  // the end of the enclosing object: a scalar ended
                depth -= 1
                if depth == 0 { at += 1; return true }
            case UInt8(ascii: ","):
                if depth == 0 { return true }
            default:
                break
            }
            at += 1
        }
        return false
    }

    private mutating func entry(name: String) -> TensorInfo? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var dtype: DType?, shape: [Int]?, offsets: [Int]?
        repeat {
            guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "dtype":
                guard dtype == nil, let text = string(), let d = DType(rawValue: text) else { return nil }
                dtype = d
            case "shape":
                guard shape == nil, let dims = integers() else { return nil }
                shape = dims
            case "data_offsets":
                guard offsets == nil, let pair = integers(), pair.count == 2 else { return nil }
                offsets = pair
            default:
                return nil
            }
        } while take(UInt8(ascii: ","))
        guard take(UInt8(ascii: "}")), let dtype, let shape, let offsets else { return nil }
        var count = 1
        for dim in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { return nil }
            count = product
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteWidth)
        guard !overflow, offsets[0] <= offsets[1], offsets[1] - offsets[0] == byteCount else { return nil }
        return TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: offsets[0]..<offsets[1])
    }

    private mutating func metadataObject() -> [String: String]? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var metadata: [String: String] = [:]
        if take(UInt8(ascii: "}")) { return metadata }
        repeat {
            guard let key = string(), take(UInt8(ascii: ":")), let value = string(),
                  metadata.updateValue(value, forKey: key) == nil else { return nil }
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "}")) ? metadata : nil
    }

    /// An array of non-negative integer literals without sign, fraction, exponent or leading zero.
    private mutating func integers() -> [Int]? {
        guard take(UInt8(ascii: "[")) else { return nil }
        var values: [Int] = []
        if take(UInt8(ascii: "]")) { return values }
        repeat {
            skipSpace()
            let start = at
            var value = 0
            while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") {
                let (times, o1) = value.multipliedReportingOverflow(by: 10)
                let (sum, o2) = times.addingReportingOverflow(Int(bytes[at] - UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                value = sum
                at += 1
            }
            let digits = at - start
            guard digits > 0, !(digits > 1 && bytes[start] == UInt8(ascii: "0")) else { return nil }
            if at < bytes.count, bytes[at] == UInt8(ascii: ".") || bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
                return nil
            }
            values.append(value)
        } while take(UInt8(ascii: ","))
        return take(UInt8(ascii: "]")) ? values : nil
    }

    /// A string without escapes or control characters (the header was checked to be UTF-8).
    private mutating func string() -> String? {
        guard take(UInt8(ascii: "\"")) else { return nil }
        let start = at
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)
                at += 1
                return text
            }
            if byte == UInt8(ascii: "\\") || byte < 0x20 { return nil }
            at += 1
        }
        return nil
    }

    /// Skips whitespace, then takes `byte` if it is next.
    private mutating func take(_ byte: UInt8) -> Bool {
        skipSpace()
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    private mutating func skipSpace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x0A, 0x0D, 0x09: at += 1
            default: return
            }
        }
    }
}

/// A set of names held as ranges of the header's bytes (no String hashed, no allocation per name):
/// open addressing on each name's XXH64, bytes compared on a match.
private struct NameSet {
    private var slots: [(hash: UInt64, name: UnsafeRawBufferPointer?)]
    private var count = 0

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: (0, nil), count: size)
    }

    /// Adds `name`; false when it was there already.
    mutating func insert(_ name: UnsafeRawBufferPointer) -> Bool {
        if (count + 1) * 2 > slots.count { grow() }
        let hash = XXH64.hash(name)
        var i = Int(truncatingIfNeeded: hash) & (slots.count - 1)
        while let other = slots[i].name {
            if slots[i].hash == hash, other.count == name.count, other.elementsEqual(name) { return false }
            i = (i + 1) & (slots.count - 1)
        }
        slots[i] = (hash, name)
        count += 1
        return true
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: (0, nil), count: old.count * 2)
        for slot in old {
            guard slot.name != nil else { continue }
            var i = Int(truncatingIfNeeded: slot.hash) & (slots.count - 1)
            while slots[i].name != nil { i = (i + 1) & (slots.count - 1) }
            slots[i] = slot
        }
    }
}
