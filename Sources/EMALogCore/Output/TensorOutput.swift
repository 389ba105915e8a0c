#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
public import EMALogFormats
import EMALogStore

/// One tensor to write: its layout and a function that emits its bytes in order. `emit` may be
/// called more than once (npz computes each entry's checksum before writing it).
public struct OutputTensor {
    /// Name, dtype and shape as written.
    public var layout: TensorLayout
    /// Calls its argument with the tensor's bytes in order, in pieces of any size.
    public var emit: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void

    /// A tensor written from `emit`.
    public init(layout: TensorLayout, emit: @escaping ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
        self.layout = layout
        self.emit = emit
    }
}

/// Encodes tensors as safetensors, npz or json into an `OutputSink`, streaming: no format holds a
/// whole copy of a tensor.
public enum TensorOutput {
    /// Writes `tensors` with `metadata` to `target` in its format; nothing is left behind on failure.
    public static func write(_ tensors: [OutputTensor], metadata: [String: String], to target: OutputTarget) throws {
        let sink = try OutputSink(target)
        switch target.format {
        case .safetensors: try writeSafetensors(tensors, metadata: metadata, to: sink)
        case .npz: try writeNPZ(tensors, to: sink, path: target.path)
        case .json: try writeJSON(tensors, metadata: metadata, to: sink)
        }
        try sink.commit()
    }

    private static func writeSafetensors(_ tensors: [OutputTensor], metadata: [String: String], to sink: OutputSink) throws {
        try sink.write(Safetensors.encodeHeader(tensors.map(\.layout), metadata: metadata))
        for tensor in tensors {
            var written = 0
            try tensor.emit { bytes in try sink.write(bytes); written += bytes.count }
            precondition(written == tensor.layout.byteCount, "\(tensor.layout.name): wrote \(written) bytes")
        }
    }

    /// A stored zip of `.npy` files. Each tensor is emitted twice: once for its CRC-32 (the local
    /// header precedes the data), once to write it; BF16 is widened to F32 block by block.
    private static func writeNPZ(_ tensors: [OutputTensor], to sink: OutputSink, path: String) throws {
        guard tensors.count < 0xFFFF else { throw QueryError.outputTooLarge(path: path, reason: "\(tensors.count) tensors") }
        var entries: [NPZ.Entry] = []
        var offset = 0
        for tensor in tensors {
            let header = NPZ.npyHeader(descr: NPZ.descr(tensor.layout.dtype), shape: tensor.layout.shape)
            var crc = header.withUnsafeBytes { CRC32.update(0, $0) }
            var size = header.count
            try emitNPY(tensor) { bytes in crc = CRC32.update(crc, bytes); size += bytes.count }
            let entry = NPZ.Entry(name: tensor.layout.name + ".npy", crc: crc, size: size, offset: offset)
            let local = NPZ.localHeader(entry)
            guard size <= Int(UInt32.max), offset + local.count + size <= Int(UInt32.max) else {
                throw QueryError.outputTooLarge(path: path, reason: "tensor '\(tensor.layout.name)' ends past 4 GiB")
            }
            try sink.write(local)
            try sink.write(header)
            try emitNPY(tensor) { bytes in try sink.write(bytes) }
            offset += local.count + size
            entries.append(entry)
        }
        try sink.write(NPZ.centralDirectory(entries, at: offset))
    }

    private static func emitNPY(_ tensor: OutputTensor, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard tensor.layout.dtype == .bf16 else { return try tensor.emit(body) }
        var carry: UInt8?
        try tensor.emit { bytes in
            var bytes = bytes
            if let low = carry, let high = bytes.first {
                var one = Float(bitPattern: UInt32(UInt16(high) << 8 | UInt16(low)) << 16)
                try withUnsafeBytes(of: &one, body)
                bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
                carry = nil
            }
            let start = bytes.count / 2 * 2
            try Widening.widen(UnsafeRawBufferPointer(rebasing: bytes[..<start]), dtype: .bf16, inBlocksOf: 1 << 15, body)
            if start < bytes.count { carry = bytes[start] }
        }
    }

    /// `{"metadata":{...},"tensors":{"<name>":{"dtype":..,"shape":[..],"values":[..]},...}}`, the
    /// values streamed.
    private static func writeJSON(_ tensors: [OutputTensor], metadata: [String: String], to sink: OutputSink) throws {
        var json = JSONWriter()
        try json.object { json in
            json.field("metadata", metadata)
            try json.object("tensors") { json in
                for tensor in tensors {
                    let layout = tensor.layout
                    try json.object(layout.name) { json in
                        json.field("dtype", layout.dtype.rawValue)
                        json.field("shape", layout.shape)
                        try json.array("values") { json in
                            try sink.write(json.take())  // the values are streamed, block by block
                            var values = JSONValues(dtype: layout.dtype)
                            try tensor.emit { bytes in try values.append(bytes, to: sink) }
                        }
                    }
                }
            }
        }
        try sink.write(json.take() + "\n")
    }
}
