#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
import EMALogFormats
import EMALogStore
import Foundation

/// A file format for tensors handed back to the user.
public enum OutputFormat: String, Sendable, CaseIterable {
    case safetensors, npz, json

    /// The format a path's extension implies (safetensors by default).
    public static func inferred(from path: String) -> OutputFormat {
        OutputFormat(rawValue: (path as NSString).pathExtension.lowercased()) ?? .safetensors
    }
}

/// One tensor to write: its layout and a function that emits its bytes in order.
public struct OutputTensor {
    public var layout: TensorLayout
    public var emit: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void

    public init(layout: TensorLayout, emit: @escaping ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) {
        self.layout = layout
        self.emit = emit
    }
}

/// Writes tensors to a file atomically (a temporary file renamed into place).
public enum TensorOutput {
    /// Writes `tensors` with `metadata` to `path` in `format`.
    public static func write(_ tensors: [OutputTensor], metadata: [String: String], to path: String,
                             format: OutputFormat) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard let file = fopen(temporary, "wb") else {
            throw QueryError.outputFailed(path: path, reason: String(cString: strerror(errno)))
        }
        var closed = false
        defer {
            if !closed { fclose(file) }
            unlink(temporary)
        }
        func put(_ bytes: UnsafeRawBufferPointer) throws {
            guard bytes.count > 0 else { return }
            guard fwrite(bytes.baseAddress!, 1, bytes.count, file) == bytes.count else {
                throw QueryError.outputFailed(path: path, reason: String(cString: strerror(errno)))
            }
        }
        switch format {
        case .safetensors:
            try Safetensors.encodeHeader(tensors.map(\.layout), metadata: metadata).withUnsafeBytes(put)
            for tensor in tensors {
                var written = 0
                try tensor.emit { bytes in try put(bytes); written += bytes.count }
                precondition(written == tensor.layout.byteCount, "\(tensor.layout.name): wrote \(written) bytes")
            }
        case .npz:
            var entries: [(name: String, npy: [UInt8])] = []
            for tensor in tensors {
                var npy = NPZ.npyHeader(descr: NPZ.descr(tensor.layout.dtype), shape: tensor.layout.shape)
                try tensor.emit { bytes in
                    if tensor.layout.dtype == .bf16 { npy += widenedBF16(bytes) } else { npy += bytes }
                }
                entries.append((tensor.layout.name, npy))
            }
            try NPZ.archive(entries).withUnsafeBytes(put)
        case .json:
            var text = "{\"metadata\":" + JSONWriter.object(metadata) + ",\"tensors\":{"
            for (index, tensor) in tensors.enumerated() {
                var bytes: [UInt8] = []
                try tensor.emit { bytes += $0 }
                text += (index > 0 ? "," : "") + JSONWriter.quoted(tensor.layout.name) + ":{\"dtype\":\"\(tensor.layout.dtype.rawValue)\","
                    + "\"shape\":[\(tensor.layout.shape.map(String.init).joined(separator: ","))],\"values\":["
                    + jsonValues(bytes, dtype: tensor.layout.dtype) + "]}"
            }
            text += "}}\n"
            try Array(text.utf8).withUnsafeBytes(put)
        }
        guard fflush(file) == 0 else { throw QueryError.outputFailed(path: path, reason: String(cString: strerror(errno))) }
        fclose(file)
        closed = true
        guard rename(temporary, path) == 0 else {
            throw QueryError.outputFailed(path: path, reason: String(cString: strerror(errno)))
        }
    }

    private static func widenedBF16(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        let count = bytes.count / 2
        var out = [UInt8](repeating: 0, count: count * 4)
        out.withUnsafeMutableBytes { dest in
            Widening.widen(bytes.baseAddress!, dtype: .bf16, count: count, into: dest.baseAddress!.assumingMemoryBound(to: Float.self))
        }
        return out
    }

    /// Values as JSON numbers: floats in the shortest form that reads back in their dtype.
    static func jsonValues(_ bytes: [UInt8], dtype: DType) -> String {
        bytes.withUnsafeBytes { b -> String in
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

    /// Writes the shadow to `path`.
    public func write(to path: String, format: OutputFormat, precision: Precision) throws {
        try TensorOutput.write(outputTensors(precision: precision), metadata: metadata, to: path, format: format)
    }
}
