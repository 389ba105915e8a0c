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

    /// Index of the first NaN or infinity among `count` values of `dtype` at `source`, if any.
    public static func firstNonFinite(_ source: UnsafeRawPointer, dtype: FloatingDType, count: Int) -> Int? {
        switch dtype {
        case .f32:
            for i in 0..<count
            where source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self) & 0x7F80_0000 == 0x7F80_0000 {
                return i
            }
        case .bf16:
            for i in 0..<count
            where source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self) & 0x7F80 == 0x7F80 {
                return i
            }
        case .f16:
            for i in 0..<count
            where source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self) & 0x7C00 == 0x7C00 {
                return i
            }
        case .f64:
            for i in 0..<count
            where source.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self) & 0x7FF0_0000_0000_0000
                == 0x7FF0_0000_0000_0000 {
                return i
            }
        }
        return nil
    }
}
