#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
import EMALogFormats
import EMALogStore

/// A file format for tensors handed back to the user.
public enum OutputFormat: String, Sendable, CaseIterable {
    /// safetensors (the default), as `load_file` reads it.
    case safetensors
    /// numpy's `.npz` (stored zip of `.npy`; BF16 widened to F32), for inspection.
    case npz
    /// One JSON object of metadata and tensors with their values, for inspection.
    case json

    /// The format a path's extension names: safetensors without an extension (`-`, `/dev/null`,
    /// `out`); an extension that is none of the formats throws, so `x.pt` is never safetensors by surprise.
    public static func inferred(from path: String) throws(QueryError) -> OutputFormat {
        let name = Path.name(of: path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return .safetensors }
        let ext = name[name.index(after: dot)...]
        guard let format = OutputFormat(rawValue: ext.lowercased()) else {
            throw .unknownOutputExtension(path: path, extension: "." + ext)
        }
        return format
    }
}

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
        let block = 1 << 15
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: block)
        defer { scratch.deallocate() }
        var carry: UInt8?
        try tensor.emit { bytes in
            var bytes = bytes
            if let low = carry, let high = bytes.first {
                var one = Float(bitPattern: UInt32(UInt16(high) << 8 | UInt16(low)) << 16)
                try withUnsafeBytes(of: &one, body)
                bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
                carry = nil
            }
            var start = 0
            while bytes.count - start >= 2 {
                let n = min(block, (bytes.count - start) / 2)
                Widening.widen(bytes.baseAddress! + start, dtype: .bf16, count: n, into: scratch)
                try body(UnsafeRawBufferPointer(start: scratch, count: n * 4))
                start += 2 * n
            }
            if start < bytes.count { carry = bytes[start] }
        }
    }

    private static func writeJSON(_ tensors: [OutputTensor], metadata: [String: String], to sink: OutputSink) throws {
        try sink.write("{\"metadata\":" + JSONWriter.object(metadata) + ",\"tensors\":{")
        for (index, tensor) in tensors.enumerated() {
            let layout = tensor.layout
            try sink.write((index > 0 ? "," : "") + JSONWriter.quoted(layout.name) + ":{\"dtype\":\"\(layout.dtype.rawValue)\","
                + "\"shape\":[\(layout.shape.map(String.init).joined(separator: ","))],\"values\":[")
            var values = JSONValues(dtype: layout.dtype)
            try tensor.emit { bytes in try values.append(bytes, to: sink) }
            try sink.write("]}")
        }
        try sink.write("}}\n")
    }
}

/// Tensor bytes as JSON numbers, in blocks: floats in the shortest form that reads back in their
/// dtype. An element split between two emitted buffers is carried over.
struct JSONValues {
    let dtype: DType
    private var carry: [UInt8] = []
    private var first = true

    init(dtype: DType) { self.dtype = dtype }

    mutating func append(_ bytes: UnsafeRawBufferPointer, to sink: OutputSink) throws {
        let width = dtype.byteWidth
        guard width > 0 else { return }
        var bytes = bytes
        if !carry.isEmpty {
            let take = min(width - carry.count, bytes.count)
            carry += bytes.prefix(take)
            bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst(take))
            guard carry.count == width else { return }
            let whole = carry
            carry = []
            try whole.withUnsafeBytes { try emit($0, to: sink) }
        }
        let whole = bytes.count / width * width
        let block = (1 << 14) * width
        var start = 0
        while start < whole {
            let end = min(whole, start + block)
            try emit(UnsafeRawBufferPointer(rebasing: bytes[start..<end]), to: sink)
            start = end
        }
        carry = Array(bytes[whole...])
    }

    private mutating func emit(_ b: UnsafeRawBufferPointer, to sink: OutputSink) throws {
        guard !b.isEmpty else { return }
        var text = first ? "" : ","
        first = false
        text += Self.text(b, dtype: dtype)
        try sink.write(text)
    }

    /// Whole elements of `dtype` in `b`, comma-separated.
    static func text(_ b: UnsafeRawBufferPointer, dtype: DType) -> String {
        let n = dtype.byteWidth == 0 ? 0 : b.count / dtype.byteWidth
        func at<T>(_ i: Int, _: T.Type) -> T { b.loadUnaligned(fromByteOffset: i * dtype.byteWidth, as: T.self) }
        func float(_ x: Float) -> String { x.isFinite ? "\(x)" : JSONWriter.number(Double(x)) }
        return (0..<n).lazy.map { i -> String in
            switch dtype {
            case .f64: return JSONWriter.number(at(i, Double.self))
            case .f32: return float(at(i, Float.self))
            case .f16: return float(Float(Float16(bitPattern: at(i, UInt16.self))))
            case .bf16: return float(Float(bitPattern: UInt32(at(i, UInt16.self)) << 16))
            case .i64: return "\(at(i, Int64.self))"
            case .i32: return "\(at(i, Int32.self))"
            case .i16: return "\(at(i, Int16.self))"
            case .i8: return "\(at(i, Int8.self))"
            case .u64: return "\(at(i, UInt64.self))"
            case .u32: return "\(at(i, UInt32.self))"
            case .u16: return "\(at(i, UInt16.self))"
            case .u8: return "\(at(i, UInt8.self))"
            case .bool: return at(i, UInt8.self) != 0 ? "true" : "false"
            }
        }.joined(separator: ",")
    }
}

extension ShadowResult {
    /// How floating tensors are written.
    public enum Precision: String, Sendable, CaseIterable {
        /// Float32, the shadow's own precision.
        case f32
        /// Each parameter's dtype, rounded to nearest even.
        case param
    }

    /// The tensors to write, in the log's order.
    public func outputTensors(precision: Precision) -> [OutputTensor] {
        tensors.map { tensor in
            guard tensor.dtype.isFloating else {
                let bytes = integerBytes(of: tensor)
                return OutputTensor(layout: tensor.layout) { emit in try bytes.withUnsafeBytes(emit) }
            }
            let values = self.values(of: tensor)
            let dtype = precision == .param ? FloatingDType(rawValue: tensor.dtype.rawValue)! : .f32
            let layout = TensorLayout(name: tensor.name, dtype: DType(rawValue: dtype.rawValue)!, shape: tensor.shape)
            return OutputTensor(layout: layout) { emit in
                if dtype == .f32 { try emit(UnsafeRawBufferPointer(values)); return }
                let block = 1 << 16
                let scratch = UnsafeMutableRawPointer.allocate(byteCount: block * dtype.byteWidth, alignment: 8)
                defer { scratch.deallocate() }
                var start = 0
                while start < values.count {
                    let n = min(block, values.count - start)
                    Widening.narrow(values.baseAddress! + start, count: n, to: dtype, into: scratch)
                    try emit(UnsafeRawBufferPointer(start: scratch, count: n * dtype.byteWidth))
                    start += n
                }
            }
        }
    }
}
