@testable import EMALogStore
import EMALogFormats
import Testing

@Suite struct CodecTests {
    struct LCG {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
    }

    /// Three consecutive "steps" of a smooth random walk, as raw bytes of `dtype`.
    func trajectory(_ dtype: DType, count: Int, seed: UInt64) -> [[UInt8]] {
        var g = LCG(state: seed)
        var values = (0..<count).map { _ in Double(Int64(g.next() % 2_000_000) - 1_000_000) / 1e6 }
        return (0..<3).map { _ in
            values = values.map { $0 + Double(Int64(g.next() % 2001) - 1000) * 1e-6 }
            return values.flatMap { v -> [UInt8] in
                func le<T: FixedWidthInteger>(_ x: T) -> [UInt8] { (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: x >> (8 * $0)) } }
                switch dtype {
                case .f64: return le(v.bitPattern)
                case .f32: return le(Float(v).bitPattern)
                case .f16: return le(Float16(v).bitPattern)
                case .bf16: return le(UInt16(Float(v).bitPattern >> 16))
                case .i64, .u64: return le(Int64(v * 1e6))
                case .i32, .u32: return le(Int32(v * 1e6))
                case .i16, .u16: return le(Int16(truncatingIfNeeded: Int(v * 1e4)))
                case .i8, .u8: return [UInt8(truncatingIfNeeded: Int(v * 100))]
                case .bool: return [v > 0 ? 1 : 0]
                }
            }
        }
    }

    func roundTrip(_ bytes: [UInt8], dtype: DType, predecessors: [[UInt8]]) throws -> (Codec, Int) {
        let coder = ChunkCoder()
        let (codec, payload) = withBuffers(predecessors[...]) { previous in
            bytes.withUnsafeBytes { coder.encode($0, dtype: dtype, predecessors: previous) }
        }
        var back = [UInt8](repeating: 0, count: bytes.count)
        let failure: CodecError? = payload.withUnsafeBytes { p in
            back.withUnsafeMutableBytes { d in
                withBuffers(predecessors.prefix(codec.predecessors)[...]) { previous in
                    coder.decode(p, codec: codec, dtype: dtype, predecessors: previous, into: d)
                }
            }
        }
        #expect(failure == nil)
        #expect(back == bytes, "\(dtype) \(codec.rawValue) does not round-trip")
        return (codec, payload.count)
    }

    @Test(arguments: DType.allCases)
    func everyCodecRoundTripsEveryDType(dtype: DType) throws {
        let steps = trajectory(dtype, count: 5001, seed: 9)
        let (k, _) = try roundTrip(steps[2], dtype: dtype, predecessors: [])
        #expect(k == .shuffleZstd || k == .plain)
        #expect(try roundTrip(steps[2], dtype: dtype, predecessors: [steps[1]]).0 == .delta1Zstd)
        #expect(try roundTrip(steps[2], dtype: dtype, predecessors: [steps[1], steps[0]]).0 == .delta2Zstd)
    }

    @Test func smoothTrajectoriesCompressBelowRawAndDeltasBelowKeyframes() throws {
        let steps = trajectory(.f32, count: 100_000, seed: 3)
        let (_, keyframe) = try roundTrip(steps[2], dtype: .f32, predecessors: [])
        let (_, delta) = try roundTrip(steps[2], dtype: .f32, predecessors: [steps[1], steps[0]])
        #expect(keyframe < steps[2].count)
        #expect(delta < keyframe)
    }

    @Test func incompressibleKeyframesStayPlainAndEmptyChunksWork() throws {
        var g = LCG(state: 5)
        let noise = (0..<4096).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        #expect(try roundTrip(noise, dtype: .u8, predecessors: []).0 == .plain)
        #expect(try roundTrip([], dtype: .f32, predecessors: []).0 == .plain)
    }

    @Test func damagedPayloadsAreRefusedNotCrashed() throws {
        let steps = trajectory(.f32, count: 1000, seed: 4)
        let coder = ChunkCoder()
        let (codec, payload) = steps[1].withUnsafeBytes { coder.encode($0, dtype: .f32, predecessors: []) }
        var out = [UInt8](repeating: 0, count: steps[1].count)
        for cut in [0, 1, 5, payload.count / 2, payload.count - 1] {
            let failure: CodecError? = Array(payload.prefix(cut)).withUnsafeBytes { p in
                out.withUnsafeMutableBytes { coder.decode(p, codec: codec, dtype: .f32, predecessors: [], into: $0) }
            }
            #expect(failure != nil, "a payload cut at \(cut) bytes decoded")
        }
    }
}
