/// The safetensors format: header decoding with every rule checked, and header encoding.
public enum Safetensors {
    /// Largest header accepted (the reference implementation's cap).
    public static let maxHeaderLength = 100_000_000
    /// The most tensor bytes a file's header may declare (4 PiB).
    public static let maxDataLength = 1 << 52

    /// Reads the header length from the first 8 bytes of a file of `fileSize` bytes.
    ///
    /// Throws `truncated` when the file is shorter than 8 bytes or than the header it declares.
    public static func headerLength(prefix: UnsafeRawBufferPointer, fileSize: Int) throws(SafetensorsError) -> Int {
        guard fileSize >= 8, prefix.count >= 8 else {
            throw .truncated(offset: max(0, min(fileSize, prefix.count)), needed: 8 - max(0, min(fileSize, prefix.count)))
        }
        let length = prefix.prefix(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }  // little-endian
        guard length <= UInt64(maxHeaderLength) else { throw .headerTooLarge(length: length, limit: maxHeaderLength) }
        let n = Int(length)
        guard fileSize - 8 >= n else { throw .truncated(offset: fileSize, needed: n - (fileSize - 8)) }
        return n
    }

    /// Decodes and validates a whole header.
    ///
    /// - Parameters:
    ///   - header: the `N` header bytes (after the 8-byte length).
    ///   - fileSize: the file's size, to check that the data buffer ends exactly at EOF.
    public static func decodeHeader(_ header: UnsafeRawBufferPointer, fileSize: Int) throws(SafetensorsError)
        -> SafetensorsHeader
    {
        let decoded = try decodeHeader(header)
        let available = fileSize - decoded.dataOffset
        if available < decoded.dataLength { throw .truncated(offset: fileSize, needed: decoded.dataLength - available) }
        if available > decoded.dataLength { throw .trailingBytes(count: available - decoded.dataLength) }
        return decoded
    }

    /// Decodes and validates a whole header, without a file: the data buffer's length is what the
    /// offsets declare (a stream reads exactly that many bytes next).
    public static func decodeHeader(_ header: UnsafeRawBufferPointer) throws(SafetensorsError) -> SafetensorsHeader {
        guard String(validating: header, as: UTF8.self) != nil else { throw .headerNotUTF8 }
        if let header = fastDecodeHeader(header) { return header }
        return try decodeHeaderTree(header)
    }

    /// `decodeHeader` through a JSON tree: every header the fast reader leaves, and every refusal.
    static func decodeHeaderTree(_ header: UnsafeRawBufferPointer) throws(SafetensorsError) -> SafetensorsHeader {
        guard String(validating: header, as: UTF8.self) != nil else { throw .headerNotUTF8 }
        let json: JSONValue
        do { json = try JSONParser.parse(header) } catch { throw .headerNotJSON(error) }
        guard case let .object(members) = json else { throw .headerNotObject }

        var tensors: [TensorInfo] = []
        var metadata: [String: String] = [:]
        var seen = Set<String>()
        for member in members {
            guard seen.insert(member.key).inserted else {
                if member.key == "__metadata__" { throw .invalidMetadata(reason: "appears twice") }
                throw .duplicateTensor(name: member.key)
            }
            if member.key == "__metadata__" {
                metadata = try decodeMetadata(member.value)
            } else {
                tensors.append(try decodeEntry(name: member.key, member.value))
            }
        }
        let dataOffset = 8 + header.count
        let dataLength = try checkLayout(&tensors)
        return SafetensorsHeader(tensors: tensors, metadata: metadata, dataOffset: dataOffset, dataLength: dataLength)
    }

    private static func decodeMetadata(_ value: JSONValue) throws(SafetensorsError) -> [String: String] {
        guard case let .object(members) = value else { throw .invalidMetadata(reason: "is \(value.kindName)") }
        var metadata: [String: String] = [:]
        for member in members {
            guard case let .string(text) = member.value else {
                throw .invalidMetadata(reason: "key '\(member.key)' is \(member.value.kindName)")
            }
            guard metadata.updateValue(text, forKey: member.key) == nil else {
                throw .invalidMetadata(reason: "key '\(member.key)' appears twice")
            }
        }
        return metadata
    }

    private static func decodeEntry(name: String, _ value: JSONValue) throws(SafetensorsError) -> TensorInfo {
        guard case let .object(fields) = value else {
            throw .invalidEntry(tensor: name, reason: "entry is \(value.kindName), not an object")
        }
        func field(_ key: String) throws(SafetensorsError) -> JSONValue {
            let matches = fields.filter { $0.key == key }
            guard matches.count == 1 else {
                throw .invalidEntry(tensor: name, reason: matches.isEmpty ? "'\(key)' is missing" : "'\(key)' appears twice")
            }
            return matches[0].value
        }
        guard case let .string(dtypeName) = try field("dtype") else {
            throw .invalidEntry(tensor: name, reason: "'dtype' is not a string")
        }
        guard let dtype = DType(rawValue: dtypeName) else { throw .unknownDType(tensor: name, dtype: dtypeName) }
        guard case let .array(dims) = try field("shape") else {
            throw .invalidEntry(tensor: name, reason: "'shape' is not an array")
        }
        var shape: [Int] = []
        var count = 1
        for dim in dims {
            guard case let .number(n) = dim, n.isIntegerLiteral else {
                throw .invalidShape(tensor: name, reason: "dimension \(dim.kindName == "a number" ? "is not an integer" : "is \(dim.kindName)")")
            }
            guard let d = Int(n.text) else { throw .invalidShape(tensor: name, reason: "dimension \(n.text) overflows") }
            guard d >= 0 else { throw .invalidShape(tensor: name, reason: "dimension \(d) is negative") }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            guard !overflow else { throw .invalidShape(tensor: name, reason: "element count overflows") }
            shape.append(d)
            count = product
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: dtype.byteWidth)
        guard !overflow else { throw .invalidShape(tensor: name, reason: "byte count overflows") }
        guard case let .array(offsets) = try field("data_offsets"), offsets.count == 2,
              case let .number(b) = offsets[0], case let .number(e) = offsets[1],
              b.isIntegerLiteral, e.isIntegerLiteral
        else { throw .invalidEntry(tensor: name, reason: "'data_offsets' is not [begin, end]") }
        guard let begin = Int(b.text), let end = Int(e.text), begin >= 0, end >= 0 else {
            throw .invalidEntry(tensor: name, reason: "data_offsets [\(b.text), \(e.text)] are out of range")
        }
        guard begin <= end else {
            throw .invalidEntry(tensor: name, reason: "data_offsets [\(begin), \(end)] end before they begin")
        }
        guard end - begin == bytes else { throw .byteCountMismatch(tensor: name, expected: bytes, actual: end - begin) }
        return TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// Sorts tensors by offset and checks they tile the buffer from 0; returns the buffer length.
    private static func checkLayout(_ tensors: inout [TensorInfo]) throws(SafetensorsError) -> Int {
        tensors.sort { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }
        var end = 0
        var previous: String?
        for tensor in tensors {
            if tensor.byteRange.lowerBound < end, let previous {
                throw .overlappingData(tensor: tensor.name, previous: previous)
            }
            if tensor.byteRange.lowerBound != end {
                throw .nonContiguousData(tensor: tensor.name, expectedStart: end, actualStart: tensor.byteRange.lowerBound)
            }
            end = tensor.byteRange.upperBound
            previous = tensor.name
            // Far past any file or memory: offsets near Int.max would overflow the header's length
            // added to them (a hostile header must be refused, not crash the reader).
            if end > maxDataLength {
                throw .invalidEntry(tensor: tensor.name, reason: "its data ends at byte \(end), past the \(maxDataLength) bytes a step may hold")
            }
        }
        return end
    }
}
