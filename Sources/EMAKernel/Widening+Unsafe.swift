/// A floating dtype that emalog averages: its width and Float32 conversions.
public enum FloatingDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .f64: 8
        case .f32: 4
        case .f16, .bf16: 2
        }
    }
}

/// Conversions between stored floating values and the Float32 shadow.
public enum Widening {
    /// Converts `count` little-endian values of `dtype` at `source` to Float32.
    ///
    /// BF16 and F16 widen exactly; F64 rounds to nearest even. `source` need not be aligned.
    public static func widen(_ source: UnsafeRawPointer, dtype: FloatingDType, count: Int,
                             into destination: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
        case .bf16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        case .f16:
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = Float(Float16(bitPattern: bits))
            }
        case .f64:
            for i in 0..<count {
                let bits = UInt64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                destination[i] = Float(Double(bitPattern: bits))
            }
        }
    }

    /// Widens the whole elements of `dtype` in `bytes` to Float32 block by block, calling `body`
    /// with each block's bytes: a scratch of `block` elements, not a copy of the whole tensor.
    public static func widen(_ bytes: UnsafeRawBufferPointer, dtype: FloatingDType, inBlocksOf block: Int,
                             _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let count = bytes.count / dtype.byteWidth
        guard count > 0 else { return }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: min(block, count))
        defer { scratch.deallocate() }
        var start = 0
        while start < count {
            let n = min(block, count - start)
            widen(bytes.baseAddress! + start * dtype.byteWidth, dtype: dtype, count: n, into: scratch)
            try body(UnsafeRawBufferPointer(start: scratch, count: n * 4))
            start += n
        }
    }

    /// Rounds `values` to `dtype` block by block (nearest even), calling `body` with each block's
    /// bytes: a scratch of `block` elements, not a copy of the whole tensor.
    public static func narrow(_ values: UnsafeBufferPointer<Float>, to dtype: FloatingDType, inBlocksOf block: Int,
                              _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: block * dtype.byteWidth, alignment: 8)
        defer { scratch.deallocate() }
        var start = 0
        while start < values.count {
            let n = min(block, values.count - start)
            narrow(values.baseAddress! + start, count: n, to: dtype, into: scratch)
            try body(UnsafeRawBufferPointer(start: scratch, count: n * dtype.byteWidth))
            start += n
        }
    }

    /// Writes `count` Float32 values as `dtype` little-endian bytes, rounding to nearest even.
    public static func narrow(_ source: UnsafePointer<Float>, count: Int, to dtype: FloatingDType,
                              into destination: UnsafeMutableRawPointer) {
        switch dtype {
        case .f32:
            destination.copyMemory(from: source, byteCount: count * 4)
        case .bf16:
            for i in 0..<count {
                destination.storeBytes(of: bfloat16Bits(source[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        case .f16:
            for i in 0..<count {
                destination.storeBytes(of: Float16(source[i]).bitPattern.littleEndian, toByteOffset: 2 * i,
                                       as: UInt16.self)
            }
        case .f64:
            for i in 0..<count {
                destination.storeBytes(of: Double(source[i]).bitPattern.littleEndian, toByteOffset: 8 * i,
                                       as: UInt64.self)
            }
        }
    }

    /// The bfloat16 nearest to `value` (ties to even), as PyTorch's `.to(torch.bfloat16)` rounds; NaN stays NaN.
    @inline(__always)
    public static func bfloat16Bits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: (bits &+ rounding) >> 16)
    }

    /// The first NaN or infinity among the values of `dtype` in `bytes`: its index and its value
    /// widened to Float (NaN, +Inf or -Inf), if any.
    public static func firstNonFinite(in bytes: UnsafeRawBufferPointer, dtype: FloatingDType) -> (index: Int, value: Float)? {
        guard let base = bytes.baseAddress,
              let index = firstNonFinite(base, dtype: dtype, count: bytes.count / dtype.byteWidth) else { return nil }
        var value = Float.zero
        widen(base + index * dtype.byteWidth, dtype: dtype, count: 1, into: &value)
        return (index, value)
    }

    /// Index of the first NaN or infinity among `count` values of `dtype` at `source`, if any.
    public static func firstNonFinite(_ source: UnsafeRawPointer, dtype: FloatingDType, count: Int) -> Int? {
        switch dtype {
        case .f32: firstAllOnes(source, count: count, exponent: UInt32(0x7F80_0000))
        case .bf16: firstAllOnes(source, count: count, exponent: UInt16(0x7F80))
        case .f16: firstAllOnes(source, count: count, exponent: UInt16(0x7C00))
        case .f64: firstAllOnes(source, count: count, exponent: UInt64(0x7FF0_0000_0000_0000))
        }
    }

    /// The first value whose `exponent` bits are all ones. Blocks are checked without a branch per
    /// element (the loop vectorizes: an all-ones field plus its lowest bit carries into the sign
    /// bit), and only a block with a hit is searched.
    @inline(__always)
    static func firstAllOnes<T: FixedWidthInteger & UnsignedInteger>(_ source: UnsafeRawPointer, count: Int, exponent: T) -> Int? {
        let width = MemoryLayout<T>.size
        let carry = exponent & (0 &- exponent) // the field's lowest bit
        let sign = T(1) << (T.bitWidth - 1)
        var start = 0
        while start < count {
            let end = min(start + 4096, count)
            var hits: T = 0
            var at = source + width &* start
            for _ in start..<end {
                hits |= ((at.loadUnaligned(as: T.self) & exponent) &+ carry) & sign
                at += width
            }
            if hits != 0 {
                for i in start..<end where source.loadUnaligned(fromByteOffset: width * i, as: T.self) & exponent == exponent {
                    return i
                }
            }
            start = end
        }
        return nil
    }
}
