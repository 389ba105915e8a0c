public import EMAKernelC

extension EMA {
    /// Updates `count` shadow values toward `theta`: `shadow[i] = updated(shadow[i], theta[i], c)`.
    ///
    /// Written per form so each loop vectorises; bit-identical to `updated(_:toward:_:)`.
    @inlinable
    public static func update(_ shadow: UnsafeMutablePointer<Float>, toward theta: UnsafePointer<Float>,
                              count: Int, coefficients c: Coefficients) {
        switch c.form {
        case .seed:
            let c1 = c.rate, c2 = c.keep
            for i in 0..<count {
                let a = c1 * theta[i]
                let b = c2 * shadow[i]
                shadow[i] = a + b
            }
        case .lerp:
            // Swift cannot enable FMA per function; the C kernel dispatches on the CPU at run time.
            emalog_lerp_f32(shadow, theta, count, c.rate, c.keep)
        case .subFMA:
            emalog_sub_fma_f32(shadow, theta, count, c.rate)
        case .sub:
            let w = c.rate
            for i in 0..<count {
                let s = shadow[i]
                let p = w * (s - theta[i])
                shadow[i] = s - p
            }
        }
    }

    /// Elements processed per block: θ is widened once per block and reused by every track while hot.
    public static let blockSize = 8192

    /// Applies one update per track to its shadow, in a single pass over `theta` of dtype `dtype`.
    ///
    /// `theta` holds `count` little-endian values of a floating `dtype`; 16- and 64-bit values are
    /// converted to Float32 a block at a time (BF16/F16 exactly, F64 rounded to nearest).
    public static func update(shadows: [UnsafeMutablePointer<Float>], toward theta: UnsafeRawPointer,
                              dtype: FloatingDType, count: Int, coefficients: [Coefficients]) {
        precondition(shadows.count == coefficients.count, "one coefficient set per shadow")
        if dtype == .f32 {
            let t = theta.assumingMemoryBound(to: Float.self)
            var start = 0
            while start < count {
                let n = min(blockSize, count - start)
                for k in shadows.indices {
                    update(shadows[k] + start, toward: t + start, count: n, coefficients: coefficients[k])
                }
                start += n
            }
            return
        }
        withUnsafeTemporaryAllocation(of: Float.self, capacity: blockSize) { block in
            let widened = block.baseAddress!
            var start = 0
            while start < count {
                let n = min(blockSize, count - start)
                Widening.widen(theta + start * dtype.byteWidth, dtype: dtype, count: n, into: widened)
                for k in shadows.indices {
                    update(shadows[k] + start, toward: widened, count: n, coefficients: coefficients[k])
                }
                start += n
            }
        }
    }
}
