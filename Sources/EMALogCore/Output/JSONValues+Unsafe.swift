#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
import EMALogFormats
import EMALogStore

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
        return (0..<n).lazy.map { i -> String in
            switch dtype {
            case .f64: return JSONWriter.number(at(i, Double.self))
            case .f32: return JSONWriter.number(at(i, Float.self))
            case .f16: return JSONWriter.number(Float(Float16(bitPattern: at(i, UInt16.self))))
            case .bf16: return JSONWriter.number(Float(bitPattern: UInt32(at(i, UInt16.self)) << 16))
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
