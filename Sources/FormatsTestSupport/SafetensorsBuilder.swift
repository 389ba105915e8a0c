public import EMALogFormats
import Foundation

/// Builds safetensors files for tests, valid by default, with hooks to break one rule at a time.
public struct SafetensorsBuilder {
    public struct Tensor {
        public var name: String
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]
    }

    public var tensors: [Tensor] = []
    public var metadata: [String: String] = [:]

    public init(step: Int? = nil) {
        if let step { metadata["step"] = String(step) }
    }

    /// Adds a Float32 tensor.
    public mutating func add(_ name: String, shape: [Int], floats: [Float]) {
        precondition(floats.count == shape.reduce(1, *))
        tensors.append(Tensor(name: name, dtype: .f32, shape: shape, bytes: floats.withUnsafeBytes { Array($0) }))
    }

    /// Adds a tensor from raw little-endian bytes.
    public mutating func add(_ name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        tensors.append(Tensor(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// The header JSON text (unpadded), offsets back to back.
    public func headerJSON() -> String {
        var parts: [String] = []
        if !metadata.isEmpty { parts.append("\"__metadata__\":" + JSONWriter.object(metadata)) }
        var offset = 0
        for t in tensors {
            parts.append("\(JSONWriter.quoted(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + t.bytes.count)]}")
            offset += t.bytes.count
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    /// The whole file.
    public func bytes() -> [UInt8] {
        Self.file(header: headerJSON(), data: tensors.flatMap(\.bytes))
    }

    /// A file with an arbitrary header text and data.
    public static func file(header: String, data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out += $0 }
        return out + Array(header.utf8) + data
    }

    /// Writes the file to `path`.
    public func write(to path: String) throws {
        try Data(bytes()).write(to: URL(fileURLWithPath: path))
    }
}

/// A decoded safetensors file, for comparing outputs.
public struct LoadedSafetensors {
    public var metadata: [String: String]
    public var tensors: [String: (dtype: DType, shape: [Int], bytes: [UInt8])]
    public var order: [String]

    public init(path: String) throws {
        try self.init(bytes: [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
    }

    /// Decodes a whole file's bytes.
    public init(bytes data: [UInt8]) throws {
        let header = try data.withUnsafeBytes { buffer in
            let n = try Safetensors.headerLength(prefix: buffer, fileSize: buffer.count)
            return try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: buffer[8..<(8 + n)]), fileSize: buffer.count)
        }
        metadata = header.metadata
        order = header.tensors.map(\.name)
        tensors = [:]
        for t in header.tensors {
            let range = (header.dataOffset + t.byteRange.lowerBound)..<(header.dataOffset + t.byteRange.upperBound)
            tensors[t.name] = (t.dtype, t.shape, Array(data[range]))
        }
    }

    /// Float32 values of a tensor.
    public func floats(_ name: String) -> [Float] {
        tensors[name]!.bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}

extension SafetensorsBuilder {
    /// A builder holding the tensors and metadata of an existing file, to modify.
    public init(copying path: String) throws {
        let loaded = try LoadedSafetensors(path: path)
        metadata = loaded.metadata
        tensors = loaded.order.map { name in
            let t = loaded.tensors[name]!
            return Tensor(name: name, dtype: t.dtype, shape: t.shape, bytes: t.bytes)
        }
    }

    /// Index of the tensor named `name`.
    public func index(of name: String) -> Int { tensors.firstIndex { $0.name == name }! }
}
