@testable import EMALogStore
import EMALogFormats
import EMALogStoreC
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
        let (codec, payload) = ChunkDecoder.withBuffers(predecessors[...]) { previous in
            bytes.withUnsafeBytes { coder.encode($0, dtype: dtype, predecessors: previous) }
        }
        // The AVX2 and scalar encoders write the payload of the widest one, byte for byte.
        for level in [ChunkCoder.VectorLevel.avx2, .scalar] {
            coder.vectors = level
            let other = ChunkDecoder.withBuffers(predecessors[...]) { previous in
                bytes.withUnsafeBytes { coder.encode($0, dtype: dtype, predecessors: previous) }
            }
            #expect(other.0 == codec && other.1 == payload, "\(dtype) \(codec.rawValue): \(level) payload differs")
        }
        // Every rANS decoder: the AVX-512 and AVX2 loops (where the CPU has them), the scalar one.
        for vectors in [ChunkCoder.VectorLevel.widest, .avx2, .scalar] {
            coder.vectors = vectors
            var back = [UInt8](repeating: 0, count: bytes.count)
            let failure: CodecError? = payload.withUnsafeBytes { p in
                back.withUnsafeMutableBytes { d in
                    ChunkDecoder.withBuffers(predecessors.prefix(codec.predecessors)[...]) { previous in
                        coder.decode(p, codec: codec, dtype: dtype, predecessors: previous, into: d)
                    }
                }
            }
            #expect(failure == nil)
            #expect(back == bytes, "\(dtype) \(codec.rawValue) does not round-trip (vectors: \(vectors))")
        }
        return (codec, payload.count)
    }

    @Test(arguments: DType.allCases)
    func everyCodecRoundTripsEveryDType(dtype: DType) throws {
        let steps = trajectory(dtype, count: 5001, seed: 9)
        let (k, _) = try roundTrip(steps[2], dtype: dtype, predecessors: [])
        #expect(k == .shuffleZstd || k == .plain)
        let rans = ransKind(dtype) != nil
        #expect(try roundTrip(steps[2], dtype: dtype, predecessors: [steps[1]]).0 == (rans ? .delta1Rans : .delta1Zstd))
        #expect(try roundTrip(steps[2], dtype: dtype, predecessors: [steps[1], steps[0]]).0 == (rans ? .delta2Rans : .delta2Zstd))
        // Small chunks of every dtype take the zstd residual (rANS tables would outweigh them).
        let small = trajectory(dtype, count: 100, seed: 2)
        #expect(try roundTrip(small[2], dtype: dtype, predecessors: [small[1], small[0]]).0 == .delta2Zstd)
    }

    /// Bit patterns that stress the prediction and the residual: NaN payloads, infinities, signed
    /// zeros, subnormals, the extremes, predictions that overflow, residuals of ±2^(w−1), noise.
    func hostileElements(_ dtype: DType, count: Int, seed: UInt64) -> [[UInt8]] {
        var g = LCG(state: seed)
        let width = dtype.byteWidth
        let specials: [UInt64] = width == 4
            ? [0x7FC0_0000, 0xFFC0_0001, 0x7F80_0001, 0x7F80_0000, 0xFF80_0000, 0, 0x8000_0000, 1, 0x8000_0001,
               0x7F7F_FFFF, 0xFF7F_FFFF, 0x0080_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
            : [0x7FC0, 0xFFC1, 0x7F81, 0x7F80, 0xFF80, 0, 0x8000, 1, 0x8001, 0x7F7F, 0xFF7F, 0x7C00, 0x7FFF, 0xFFFF]
        let mask: UInt64 = width == 4 ? 0xFFFF_FFFF : 0xFFFF
        return (0..<3).map { _ in
            (0..<count).flatMap { i -> [UInt8] in
                let v: UInt64 = switch g.next() % 4 {
                case 0: specials[Int(g.next() % UInt64(specials.count))]
                case 1: g.next() & mask
                case 2: UInt64(i) & mask
                default: (specials[i % specials.count] &+ g.next() % 3) & mask
                }
                return (0..<width).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) }
            }
        }
    }

    @Test(arguments: [DType.f32, .bf16, .f16])
    func ransRoundTripsHostileBitPatterns(dtype: DType) throws {
        for (count, seed) in [(4096, UInt64(1)), (10_001, 2), (65_536, 3)] {
            let steps = hostileElements(dtype, count: count, seed: seed)
            #expect(try roundTrip(steps[2], dtype: dtype, predecessors: [steps[1], steps[0]]).0 == .delta2Rans)
            #expect(try roundTrip(steps[2], dtype: dtype, predecessors: [steps[1]]).0 == .delta1Rans)
            // Unchanged values: every residual zero.
            #expect(try roundTrip(steps[1], dtype: dtype, predecessors: [steps[1], steps[1]]).1 < steps[1].count / 8)
        }
    }

    /// The vector decoder takes whole groups of 16 while every read stays in bounds and leaves the
    /// rest to the scalar one: every tail length, and chunks of two segments with odd halves.
    @Test(arguments: [DType.f32, .bf16, .f16])
    func ransDecodesEveryTailLength(dtype: DType) throws {
        for count in Array(4096...4096 + 33) + [65_536 + 17, 200_001] {
            let steps = trajectory(dtype, count: count, seed: UInt64(count))
            #expect(try roundTrip(steps[2], dtype: dtype, predecessors: [steps[1], steps[0]]).0 == .delta2Rans)
        }
        let steps = trajectory(dtype, count: 70_001, seed: 5)
        #expect(try roundTrip(steps[2], dtype: dtype, predecessors: [steps[1]]).0 == .delta1Rans)
    }

    /// The vector encoder's division (a double reciprocal rounded up, truncated) is integer
    /// division for every frequency (4096 × 4000 values: random, multiples, one below, the top).
    @Test func theVectorEncodersDivisionIsExact() {
        #expect(emalog_rans_check_division(4000) == 0)
    }

    @Test func damagedRansPayloadsAreRefusedNotCrashed() throws {
        let steps = trajectory(.f32, count: 5000, seed: 6)
        let coder = ChunkCoder()
        let (codec, payload) = steps[2].withUnsafeBytes { b in
            steps[1].withUnsafeBytes { p1 in steps[0].withUnsafeBytes { p0 in coder.encode(b, dtype: .f32, predecessors: [p1, p0]) } }
        }
        #expect(codec == .delta2Rans)
        // Every decoder refuses the same payloads with the same code and decodes the rest alike.
        func decode(_ bytes: [UInt8]) -> (CodecError?, [UInt8]) {
            let results = [ChunkCoder.VectorLevel.widest, .avx2, .scalar].map { vectors -> (CodecError?, [UInt8]) in
                coder.vectors = vectors
                var out = [UInt8](repeating: 0, count: steps[2].count)
                let failure: CodecError? = bytes.withUnsafeBytes { p in
                    out.withUnsafeMutableBytes { d in
                        ChunkDecoder.withBuffers([steps[1], steps[0]][...]) { coder.decode(p, codec: codec, dtype: .f32, predecessors: $0, into: d) }
                    }
                }
                return (failure, out)
            }
            for other in results.dropFirst() {
                #expect(results[0].0?.reason == other.0?.reason && (results[0].0 != nil || results[0].1 == other.1))
            }
            return results[0]
        }
        #expect(decode(payload).0 == nil)
        for cut in 0..<payload.count where cut < 600 || cut % 97 == 0 || cut > payload.count - 64 {
            #expect(decode(Array(payload.prefix(cut))).0 != nil, "a payload cut at \(cut) bytes decoded")
        }
        // A flipped byte is refused, or decodes to other bytes (the chunk's XXH64 then refuses it).
        var g = LCG(state: 8)
        for _ in 0..<300 {
            var damaged = payload
            let at = Int(g.next() % UInt64(payload.count))
            damaged[at] ^= UInt8(1 + g.next() % 255)
            let (failure, out) = decode(damaged)
            #expect(failure != nil || out != steps[2] || damaged == payload)
        }
        // Another dtype's payload, or too few predecessors, is refused.
        var out = [UInt8](repeating: 0, count: steps[2].count)
        let wrongKind: CodecError? = payload.withUnsafeBytes { p in
            out.withUnsafeMutableBytes { d in
                ChunkDecoder.withBuffers([steps[1], steps[0]][...]) { coder.decode(p, codec: codec, dtype: .bf16, predecessors: $0, into: d) }
            }
        }
        #expect(wrongKind != nil)
    }

    /// Chunks of 65536 elements or more are two segments: one or two threads write the same
    /// payload, and either decodes it.
    @Test(arguments: [DType.f32, .bf16])
    func segmentedPayloadDoesNotDependOnThreads(dtype: DType) throws {
        let steps = trajectory(dtype, count: 100_003, seed: 12)
        func encode(threads: Int) -> (Codec, [UInt8]) {
            let coder = ChunkCoder()
            coder.threads = threads
            return steps[2].withUnsafeBytes { b in
                steps[1].withUnsafeBytes { p1 in steps[0].withUnsafeBytes { p0 in coder.encode(b, dtype: dtype, predecessors: [p1, p0]) } }
            }
        }
        let (codec, one) = encode(threads: 1)
        #expect(codec == .delta2Rans)
        #expect(encode(threads: 2).1 == one)
        for threads in [1, 2] {
            let coder = ChunkCoder()
            coder.threads = threads
            var out = [UInt8](repeating: 0, count: steps[2].count)
            let failure: CodecError? = one.withUnsafeBytes { p in
                out.withUnsafeMutableBytes { d in
                    ChunkDecoder.withBuffers([steps[1], steps[0]][...]) { coder.decode(p, codec: codec, dtype: dtype, predecessors: $0, into: d) }
                }
            }
            #expect(failure == nil && out == steps[2], "\(threads) threads")
            // Cut anywhere, the payload is refused (a sample of cuts: every stream boundary region).
            for cut in stride(from: 0, to: one.count, by: max(1, one.count / 97)) {
                let refused: CodecError? = Array(one.prefix(cut)).withUnsafeBytes { p in
                    out.withUnsafeMutableBytes { d in
                        ChunkDecoder.withBuffers([steps[1], steps[0]][...]) { coder.decode(p, codec: codec, dtype: dtype, predecessors: $0, into: d) }
                    }
                }
                #expect(refused != nil, "cut at \(cut)")
            }
        }
    }

    /// The payload of a fixed input never changes: logs written today must read tomorrow. A change
    /// here is a format change and needs a new payload version (older ones stay decodable:
    /// CompatibilityTests).
    @Test(arguments: [(5000, 11196, UInt64(2_164_044_550_810_129_745)), (70_000, 147_732, UInt64(14_402_169_361_197_213_344))])
    func ransPayloadIsStable(count: Int, size: Int, hash: UInt64) throws {
        let steps = trajectory(.f32, count: count, seed: 11)
        let coder = ChunkCoder()
        let (_, payload) = steps[2].withUnsafeBytes { b in
            steps[1].withUnsafeBytes { p1 in steps[0].withUnsafeBytes { p0 in coder.encode(b, dtype: .f32, predecessors: [p1, p0]) } }
        }
        #expect(payload.count == size)
        #expect(payload.withUnsafeBytes { XXH64.hash($0) } == hash)
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
