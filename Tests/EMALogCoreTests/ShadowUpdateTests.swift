import EMAKernel
import EMALogCore
import EMALogFormats
import EMALogStore
import FormatsTestSupport
import Testing

/// Several steps applied at once (a replay's round) equal the same steps applied one by one, bit
/// for bit: every dtype, every action, and chunks that end mid-block.
@Suite struct ShadowUpdateTests {
    @Test(arguments: [DType.f32, .bf16, .f16, .f64])
    func stepsAppliedTogetherEqualStepsAppliedOneByOne(dtype: DType) throws {
        var generator = SeededGenerator(seed: 7)
        // Two blocks and a bit, at an offset inside the tensor: blocks straddle the chunk's end.
        let elements = 2 * EMA.blockSize + 37, offset = 11
        let tensor = TensorRecord(id: 1, name: "w", dtype: dtype, shape: [offset + elements], position: 0)
        let specs = try ["0.9", "decay=0.99,form=lerp", "decay=0.999,form=sub", "decay=0.99,form=sub-fma"].map(EMASpec.init(parsing:))
        func shadows() throws -> [ShadowState] { try specs.map { try ShadowState(spec: $0, tensors: [tensor]) } }
        let oneByOne = try shadows(), together = try shadows()
        let width = dtype.byteWidth
        let steps: [[UInt8]] = (0..<6).map { _ in
            (0..<elements).flatMap { _ in Self.bytes(Float.random(in: -2...2, using: &generator), dtype) }
        }
        // Step 0 starts every shadow; then updates, with one shadow skipping a step and one
        // started late, so a round mixes all three actions.
        func actions(_ t: Int, _ set: [ShadowState]) -> [(ShadowState, ShadowUpdate.Action)] {
            set.enumerated().compactMap { k, shadow in
                if k == 3 && t < 2 { return nil }
                if t == 0 || (k == 3 && t == 2) { return (shadow, .initialize) }
                if k == 1 && t == 4 { return (shadow, .keep) }
                return (shadow, .update(EMA.Coefficients(decay: 0.9 + 0.01 * Double(t), form: shadow.spec.form)))
            }
        }
        for (t, step) in steps.enumerated() {
            step.withUnsafeBytes { ShadowUpdate.apply(actions(t, oneByOne), tensor: tensor, offset: offset * width, bytes: $0) }
        }
        for round in [0..<1, 1..<5, 5..<6] {
            let slice = Array(steps[round])
            slice[0].withUnsafeBytes { b0 in
                func nest(_ k: Int, _ acc: [UnsafeRawBufferPointer]) {
                    if k == slice.count {
                        ShadowUpdate.apply(steps: zip(round, acc).map { (actions($0, together), $1) }, tensor: tensor,
                                           offset: offset * width)
                        return
                    }
                    slice[k].withUnsafeBytes { nest(k + 1, acc + [$0]) }
                }
                nest(1, [b0])
            }
        }
        for (a, b) in zip(oneByOne, together) {
            let x = a.withValues(of: 1) { Array($0) }, y = b.withValues(of: 1) { Array($0) }
            #expect(x.map(\.bitPattern) == y.map(\.bitPattern), "\(a.spec.canonical)")
            #expect(x[offset...].contains { $0 != 0 })
        }
    }

    static func bytes(_ value: Float, _ dtype: DType) -> [UInt8] {
        func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        switch dtype {
        case .f32: return le(value.bitPattern)
        case .f64: return le(Double(value).bitPattern)
        case .f16: return le(Float16(value).bitPattern)
        default: return le(UInt16(truncatingIfNeeded: value.bitPattern >> 16))
        }
    }
}
