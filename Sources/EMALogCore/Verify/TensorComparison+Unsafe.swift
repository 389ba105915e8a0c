import EMAKernel

/// Where a checkpoint tensor's elements depart from the shadow's, in the checkpoint's dtype.
struct ElementComparison: Equatable {
    var maxAbs: Double = 0
    var maxULP: Int = 0
    var firstIndex: Int?
    var checkpointValue: Double?
    var logValue: Double?
}

/// Element loops of `verify`: the checkpoint's bytes against the shadow rounded to their dtype.
enum TensorComparison {
    /// Compares `checkpoint`, little-endian values of `dtype`, with the Float32 `shadow` rounded once
    /// to `dtype` (nearest even). Elements are equal when their bits are; the ulp distance counts
    /// the representable values between them (+0 and -0 are 0 apart; NaN against a number is
    /// `Int.max` apart).
    static func compare(_ checkpoint: UnsafeRawBufferPointer, dtype: FloatingDType,
                        shadow: UnsafeBufferPointer<Float>) -> ElementComparison {
        precondition(checkpoint.count == shadow.count * dtype.byteWidth, "checkpoint and shadow sizes differ")
        var result = ElementComparison()
        let width = dtype.byteWidth
        var start = 0
        Widening.narrow(shadow, to: dtype, inBlocksOf: 1 << 14) { block in
            let n = block.count / width
            for i in 0..<n {
                let a = bits(checkpoint, at: start + i, width: width), b = bits(block, at: i, width: width)
                guard a != b else { continue }
                let x = value(a, dtype), y = value(b, dtype)
                let abs = x.isNaN && y.isNaN ? 0 : Swift.abs(x - y)
                if abs.isNaN || abs > result.maxAbs { result.maxAbs = abs }
                result.maxULP = max(result.maxULP, ulps(a, b, width: width, nan: x.isNaN || y.isNaN))
                if result.firstIndex == nil {
                    result.firstIndex = start + i
                    result.checkpointValue = x
                    result.logValue = y
                }
            }
            start += n
        }
        return result
    }

    /// True when the two buffers hold the same bytes.
    static func sameBytes(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Bool {
        a.count == b.count && b.withUnsafeBytes { a.elementsEqual($0) }
    }

    private static func bits(_ p: UnsafeRawBufferPointer, at i: Int, width: Int) -> UInt64 {
        switch width {
        case 2: UInt64(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        case 4: UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        default: UInt64(littleEndian: p.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
        }
    }

    private static func value(_ bits: UInt64, _ dtype: FloatingDType) -> Double {
        switch dtype {
        case .f32: Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits)))
        case .bf16: Double(Float(bitPattern: UInt32(truncatingIfNeeded: bits) << 16))
        case .f16: Double(Float(Float16(bitPattern: UInt16(truncatingIfNeeded: bits))))
        case .f64: Double(bitPattern: bits)
        }
    }

    /// Distance between two encodings on the line of representable values (sign-magnitude mapped
    /// to a signed integer, so -0 and +0 meet at 0).
    private static func ulps(_ a: UInt64, _ b: UInt64, width: Int, nan: Bool) -> Int {
        if nan { return Int.max }
        let sign = UInt64(1) << (width * 8 - 1)
        func ordered(_ v: UInt64) -> Int64 { v & sign != 0 ? -Int64(v & ~sign) : Int64(v & ~sign) }
        let (d, overflow) = ordered(a).subtractingReportingOverflow(ordered(b))
        if overflow || d == Int64.min { return Int.max }
        return Int(Swift.abs(d))
    }
}
