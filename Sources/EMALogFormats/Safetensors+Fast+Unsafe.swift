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
}

private struct FastReader {
    let bytes: UnsafeRawBufferPointer
    var at = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func header(dataOffset: Int) -> SafetensorsHeader? {
        guard take(UInt8(ascii: "{")) else { return nil }
        var tensors: [TensorInfo] = []
        var metadata: [String: String] = [:]
        var seen = Set<String>()
        var sawMetadata = false
        if !take(UInt8(ascii: "}")) {
            repeat {
                guard let key = string(), take(UInt8(ascii: ":")) else { return nil }
                if key == "__metadata__" {
                    guard !sawMetadata, let m = metadataObject() else { return nil }
                    sawMetadata = true
                    metadata = m
                } else {
                    guard seen.insert(key).inserted, let tensor = entry(name: key) else { return nil }
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
