import EMALogStoreC
import Foundation

/// The rANS residual coder alone, on one chunk, one thread: nanoseconds per element to encode and
/// decode with each loop this CPU has, and the ratio to the scalar code measured in the same run.
enum CodecBench {
    static func run(elements n: Int) {
        print("\n## rANS residual coder, one chunk of \(n) float32, one thread (Adam-like noise: ~15-bit residuals)")
        // Three steps: weights spread over several exponents, each step moved by noise of about
        // 1e-4 (the size of an Adam update at lr 1e-3).
        var state: UInt64 = 11
        func uniform() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(state >> 40) / Float(1 << 24) - 0.5
        }
        var values = (0..<n).map { _ in uniform() * 0.2 }
        let steps: [[Float]] = (0..<3).map { _ in
            for i in values.indices { values[i] += uniform() * 2e-4 }
            return values
        }
        let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: emalog_rans_scratch_size(n))
        let out = UnsafeMutablePointer<UInt8>.allocate(capacity: emalog_rans_bound(n))
        var decoded = [Float](repeating: 0, count: n)
        defer { scratch.deallocate(); out.deallocate() }
        let avx512 = emalog_rans_vectors_available() != 0, avx2 = emalog_rans_avx2_available() != 0
        var size = 0
        func encode(_ level: Int32) -> Double {
            let t = Measure.seconds {
                size = steps[2].withUnsafeBytes { x in steps[1].withUnsafeBytes { p1 in steps[0].withUnsafeBytes { p2 in
                    emalog_rans_encode(x.baseAddress, p1.baseAddress, p2.baseAddress, n, Int32(EMALOG_RANS_F32), scratch, out,
                                       emalog_rans_bound(n), 1, level)
                } } }
            }
            return t / Double(n) * 1e9
        }
        func decode(_ level: Int32) -> Double {
            let t = Measure.seconds {
                let status = decoded.withUnsafeMutableBytes { d in steps[1].withUnsafeBytes { p1 in steps[0].withUnsafeBytes { p2 in
                    emalog_rans_decode(out, size, p1.baseAddress, p2.baseAddress, d.baseAddress, n, Int32(EMALOG_RANS_F32), 1, level)
                } } }
                precondition(status == 0 && decoded == steps[2], "the payload did not decode to the step")
            }
            return t / Double(n) * 1e9
        }
        // One line per loop this CPU has, the ratio to the scalar one first measured.
        func line(_ what: String, _ ns: Double, baseline: Double) {
            print("\(what.padding(toLength: 32, withPad: " ", startingAt: 0)) \(String(format: "%7.2f ns/element", ns))   \(String(format: "%.2fx", baseline / ns))")
        }
        let scalarEncode = encode(0)
        print("payload                          \(String(format: "%7.3f B/element", Double(size) / Double(n)))")
        line("encode, scalar", scalarEncode, baseline: scalarEncode)
        if avx2 { line("encode, AVX2 (first pass)", encode(1), baseline: scalarEncode) }
        if avx512 { line("encode, AVX-512", encode(2), baseline: scalarEncode) }
        let scalarDecode = decode(0)
        line("decode, scalar", scalarDecode, baseline: scalarDecode)
        if avx2 { line("decode, AVX2", decode(1), baseline: scalarDecode) }
        if avx512 { line("decode, AVX-512", decode(2), baseline: scalarDecode) }
        if !avx512 { print("(this CPU lacks the AVX-512 set the widest loops need)") }
    }
}
