import EMAKernel
import EMAKernelC
import Foundation
import Testing

@Suite struct UpdateTests {
    struct LCG {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2_000_001 - 1_000_000) / 250_000
        }
    }

    func data(_ n: Int, seed: UInt64) -> [Float] {
        var g = LCG(state: seed)
        return (0..<n).map { _ in g.next() }
    }

    @Test(arguments: EMASpec.Form.allCases, [0.0, 0.3, 0.5, 0.9, 0.999, 0.99999])
    func vectorLoopMatchesTheScalarDefinition(form: EMASpec.Form, decay: Double) {
        let n = 10_003
        let theta = data(n, seed: 1)
        var shadow = data(n, seed: 2)
        let c = EMA.Coefficients(decay: decay, form: form)
        let expected = zip(shadow, theta).map { EMA.updated($0, toward: $1, c) }
        shadow.withUnsafeMutableBufferPointer { s in
            theta.withUnsafeBufferPointer { t in EMA.update(s.baseAddress!, toward: t.baseAddress!, count: n, coefficients: c) }
        }
        #expect(shadow.map(\.bitPattern) == expected.map(\.bitPattern))
    }

    @Test func seedIsTheReferenceArithmeticWithoutFMA() {
        // Against Double: each product and the sum rounded to Float separately.
        let c = EMA.Coefficients(decay: 0.999, form: .seed)
        for (s, t) in zip(data(1000, seed: 3), data(1000, seed: 4)) {
            let a = Float(Double(c.rate) * Double(t))
            let b = Float(Double(c.keep) * Double(s))
            #expect(EMA.updated(s, toward: t, c).bitPattern == Float(Double(a) + Double(b)).bitPattern)
        }
    }

    @Test func lerpIsTorchsFusedLerp() {
        for decay in [0.2, 0.999] {
            let c = EMA.Coefficients(decay: decay, form: .lerp)
            let w = Float(1.0 - decay)
            for (s, t) in zip(data(500, seed: 5), data(500, seed: 6)) {
                let d = t - s
                let expected = w < 0.5 ? Float(Double(s) + Double(w) * Double(d)) : Float(Double(t) + Double(w - 1) * Double(d))
                #expect(EMA.updated(s, toward: t, c).bitPattern == expected.bitPattern)
            }
        }
    }

    @Test func subFMAIsDiffusersForeachUpdate() {
        // torch._foreach_sub_(s, s - θ, alpha=w) on the CPU: s + (-w) * d in one rounding.
        for decay in [0.0, 0.2, 0.999] {
            let c = EMA.Coefficients(decay: decay, form: .subFMA)
            let w = Float(1.0 - decay)
            for (s, t) in zip(data(500, seed: 5), data(500, seed: 6)) {
                let d = s - t
                let expected = Float(Double(s) - Double(w) * Double(d))
                #expect(EMA.updated(s, toward: t, c).bitPattern == expected.bitPattern)
            }
        }
        var a = data(50_001, seed: 13), b = a
        let theta = data(50_001, seed: 14)
        a.withUnsafeMutableBufferPointer { s in theta.withUnsafeBufferPointer { emalog_sub_fma_f32(s.baseAddress!, $0.baseAddress!, 50_001, 0.3) } }
        b.withUnsafeMutableBufferPointer { s in theta.withUnsafeBufferPointer { emalog_sub_fma_f32_portable(s.baseAddress!, $0.baseAddress!, 50_001, 0.3) } }
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    }

    @Test(arguments: [0.2, 0.999])
    func vectorFMAPathEqualsLibmFMA(decay: Double) {
        let n = 50_001
        let theta = data(n, seed: 11)
        var a = data(n, seed: 12)
        var b = a
        let c = EMA.Coefficients(decay: decay, form: .lerp)
        a.withUnsafeMutableBufferPointer { s in theta.withUnsafeBufferPointer { emalog_lerp_f32(s.baseAddress!, $0.baseAddress!, n, c.rate, c.keep) } }
        b.withUnsafeMutableBufferPointer { s in theta.withUnsafeBufferPointer { emalog_lerp_f32_portable(s.baseAddress!, $0.baseAddress!, n, c.rate, c.keep) } }
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        print("lerp uses the vector FMA path: \(emalog_lerp_uses_fma() == 1)")
    }

    @Test func severalTracksInOnePassEqualOneAtATime() {
        let n = 20_000
        let theta = data(n, seed: 7)
        let specs: [EMA.Coefficients] = [.init(decay: 0.9, form: .seed), .init(decay: 0.999, form: .lerp), .init(decay: 0.99, form: .sub)]
        var together = specs.map { _ in data(n, seed: 8) }
        var apart = together
        let buffers = together.map { values -> UnsafeMutablePointer<Float> in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            p.initialize(from: values, count: n)
            return p
        }
        defer { buffers.forEach { $0.deallocate() } }
        theta.withUnsafeBytes { t in
            EMA.update(shadows: buffers, toward: t.baseAddress!, dtype: .f32, count: n, coefficients: specs)
        }
        for k in specs.indices {
            together[k] = Array(UnsafeBufferPointer(start: buffers[k], count: n))
            apart[k] = zip(apart[k], theta).map { EMA.updated($0, toward: $1, specs[k]) }
            #expect(together[k].map(\.bitPattern) == apart[k].map(\.bitPattern))
        }
    }

    @Test func bfloat16WidensExactlyAndUpdatesInFloat32() {
        let bits: [UInt16] = [0x3F80, 0xBF00, 0x4049, 0x0001, 0x7F7F]
        var widened = [Float](repeating: 0, count: bits.count)
        bits.withUnsafeBytes { b in widened.withUnsafeMutableBufferPointer { Widening.widen(b.baseAddress!, dtype: .bf16, count: bits.count, into: $0.baseAddress!) } }
        #expect(widened.map(\.bitPattern) == bits.map { UInt32($0) << 16 })
        // No bf16 stall: a tiny update still moves a Float32 shadow.
        let c = EMA.Coefficients(decay: 0.9999, form: .seed)
        #expect(EMA.updated(1.0, toward: 1.0078125, c) != 1.0)
    }

    @Test func narrowingRoundsToNearestEven() {
        // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties to even gives 1.0 (0x3F80).
        #expect(Widening.bfloat16Bits(Float(bitPattern: 0x3F80_8000)) == 0x3F80)
        #expect(Widening.bfloat16Bits(Float(bitPattern: 0x3F81_8000)) == 0x3F82)
        #expect(Widening.bfloat16Bits(Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(Widening.bfloat16Bits(.infinity) == 0x7F80)
        #expect(Widening.bfloat16Bits(.nan) & 0x7FC0 == 0x7FC0)
        #expect(Widening.bfloat16Bits(Float(bitPattern: 0x7F7F_FFFF)) == 0x7F80)  // overflows to infinity like torch
        var out = [UInt16](repeating: 0, count: 1)
        var x: Float = 1.0 + 1.0 / 2048
        out.withUnsafeMutableBytes { Widening.narrow(&x, count: 1, to: .f16, into: $0.baseAddress!) }
        #expect(out[0] == Float16(1.0).bitPattern)
    }

    @Test func f64RoundsToNearestFloat() {
        let values: [Double] = [0.1, 1.0 / 3, -2.5e-40, 1e39]
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBytes { b in out.withUnsafeMutableBufferPointer { Widening.widen(b.baseAddress!, dtype: .f64, count: values.count, into: $0.baseAddress!) } }
        #expect(out == values.map { Float($0) })
    }

    @Test func nonFiniteIsFoundAtItsIndex() {
        var values: [Float] = [1, 2, 3, .nan, .infinity]
        #expect(values.withUnsafeBytes { Widening.firstNonFinite($0.baseAddress!, dtype: .f32, count: 5) } == 3)
        values[3] = 0
        #expect(values.withUnsafeBytes { Widening.firstNonFinite($0.baseAddress!, dtype: .f32, count: 5) } == 4)
        #expect(values.withUnsafeBytes { Widening.firstNonFinite($0.baseAddress!, dtype: .f32, count: 4) } == nil)
        let half: [UInt16] = [0x3C00, 0x7C00]
        #expect(half.withUnsafeBytes { Widening.firstNonFinite($0.baseAddress!, dtype: .f16, count: 2) } == 1)
        let bf: [UInt16] = [0x3F80, 0xFF80]
        #expect(bf.withUnsafeBytes { Widening.firstNonFinite($0.baseAddress!, dtype: .bf16, count: 2) } == 1)
        let d: [Double] = [1, -.infinity]
        #expect(d.withUnsafeBytes { Widening.firstNonFinite($0.baseAddress!, dtype: .f64, count: 2) } == 1)
    }

    /// The blockwise search against a plain scan: one non-finite value (each kind, both signs) at
    /// block edges and elsewhere, the largest finite values beside it, an unaligned start.
    @Test func nonFiniteSearchMatchesAPlainScan() {
        let count = 10_000
        for dtype in FloatingDType.allCases {
            let width = dtype.byteWidth
            let (inf, nan, largest): (UInt64, UInt64, UInt64) = switch dtype {
            case .f32: (0x7F80_0000, 0x7FC0_0001, 0x7F7F_FFFF)
            case .bf16: (0x7F80, 0x7FC1, 0x7F7F)
            case .f16: (0x7C00, 0x7E01, 0x7BFF)
            case .f64: (0x7FF0_0000_0000_0000, 0x7FF8_0000_0000_0001, 0x7FEF_FFFF_FFFF_FFFF)
            }
            let sign: UInt64 = 1 << (8 * width - 1)
            for at in [nil, 0, 4095, 4096, 4097, 8191, 9999] as [Int?] {
                for special in [inf, nan, inf | sign, nan | sign] {
                    var bytes = [UInt8](repeating: 0, count: 1 + count * width)
                    for i in 0..<count {
                        let v = i == at ? special : (i % 3 == 0 ? largest | (i % 2 == 0 ? sign : 0) : UInt64(i))
                        for k in 0..<width { bytes[1 + i * width + k] = UInt8(truncatingIfNeeded: v >> (8 * k)) }
                    }
                    let found = bytes.withUnsafeBytes { Widening.firstNonFinite($0.baseAddress! + 1, dtype: dtype, count: count) }
                    #expect(found == at, "\(dtype) at \(String(describing: at))")
                }
            }
        }
    }
}
