import CZstd
import EMALogFormats
import EMALogStoreC
import Foundation

/// Encoder and decoder with reusable zstd contexts; one per thread.
///
/// `@unchecked Sendable` is not claimed: a coder is used by one thread at a time.
final class ChunkCoder {
    /// zstd's contexts, made on first use: only the v1 codecs need them, and a replay of many small
    /// tensors holds one coder per chunk (two contexts each were ~15 KB per tensor).
    private var compressor: OpaquePointer?
    private var decompressor: OpaquePointer?
    var cctx: OpaquePointer {
        if let compressor { return compressor }
        let made = ZSTD_createCCtx()!
        compressor = made
        return made
    }
    var dctx: OpaquePointer {
        if let decompressor { return decompressor }
        let made = ZSTD_createDCtx()!
        decompressor = made
        return made
    }
    /// zstd level for planes (1: fast; higher levels barely help on float noise).
    static let level: Int32 = 1
    static let formatVersion: UInt8 = 1
    /// Threads one large rANS chunk may use (it is coded in two segments): all cores when this
    /// coder works alone; a caller that runs coders side by side sets it per chunk.
    var threads = Cores.count
    /// How wide the rANS loops may go where the CPU has them (the same payloads and values at
    /// every level; tests compare them): AVX-512, AVX2 (decoding, the encoder's first pass), none.
    var vectors = VectorLevel.widest
    enum VectorLevel: Int32 { case scalar = 0, avx2 = 1, widest = 2 }
    /// Whether this CPU runs the AVX-512 rANS loops (else AVX2 decoding, else scalar).
    static var vectorsAvailable: Bool { emalog_rans_vectors_available() != 0 }

    /// Scratch buffers reused across calls (a replay decodes the same chunk size step after step).
    private var scratch: [UnsafeMutableRawBufferPointer] = []

    init() {}

    deinit {
        if let compressor { ZSTD_freeCCtx(compressor) }
        if let decompressor { ZSTD_freeDCtx(decompressor) }
        for buffer in scratch { buffer.deallocate() }
    }

    /// Scratch buffer `slot` (0, 1 or 2) of at least `count` bytes, valid until the next call for that slot.
    func scratch(_ slot: Int, count: Int) -> UnsafeMutableRawBufferPointer {
        while scratch.count <= slot { scratch.append(UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 16)) }
        if scratch[slot].count < count {
            scratch[slot].deallocate()
            scratch[slot] = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 16)
        }
        return UnsafeMutableRawBufferPointer(rebasing: scratch[slot][0..<count])
    }
}

extension ChunkCoder {
    /// Encodes `bytes` (whole elements of `width` bytes) as a keyframe, or as a residual against
    /// `predecessors` (the same chunk at the previous one or two stored steps, newest first).
    /// Returns the codec and its payload; `plain` when nothing smaller was found.
    func encode(_ bytes: UnsafeRawBufferPointer, dtype: DType, predecessors: [UnsafeRawBufferPointer]) -> (Codec, [UInt8]) {
        let width = dtype.byteWidth
        precondition(bytes.count % width == 0, "a chunk holds whole elements")
        guard bytes.count > 0 else { return (.plain, []) }
        let codec: Codec
        var payload: [UInt8]
        if predecessors.isEmpty {
            codec = .shuffleZstd
            payload = planes(of: bytes, width: width)
        } else if let kind = ransKind(dtype), bytes.count / width >= Self.smallChunk {
            // A residual chunk stays a residual even when it does not shrink: a later step's
            // prediction counts on the steps since the keyframe being residuals.
            precondition(predecessors.allSatisfy { $0.count == bytes.count }, "predecessors differ in size")
            return (predecessors.count >= 2 ? .delta2Rans : .delta1Rans, rans(bytes, kind: kind, predecessors: predecessors))
        } else {
            precondition(predecessors.allSatisfy { $0.count == bytes.count }, "predecessors differ in size")
            codec = predecessors.count >= 2 ? .delta2Zstd : .delta1Zstd
            let residual = scratch(1, count: bytes.count)
            Residuals.encode(bytes, predecessors: Array(predecessors.prefix(2)), width: width,
                             key: ExponentKey.of(dtype), into: residual)
            payload = planes(of: UnsafeRawBufferPointer(residual), width: width)
        }
        if payload.count >= bytes.count && codec == .shuffleZstd { return (.plain, Array(bytes)) }
        return (codec, payload)
    }

    /// Decodes a payload into `destination` (exactly the raw size), given the predecessors the
    /// codec needs (newest first). Returns why it failed, or nil.
    ///
    /// Failures are returned rather than thrown: the callers reach the bytes through nested
    /// `withUnsafeBytes` closures, and errors thrown through those crashed release builds of
    /// Swift 6.3 (a cast of the thrown error dereferenced a bad pointer).
    func decode(_ payload: UnsafeRawBufferPointer, codec: Codec, dtype: DType, predecessors: [UnsafeRawBufferPointer],
                into destination: UnsafeMutableRawBufferPointer) -> CodecError? {
        switch codec {
        case .plain:
            guard payload.count == destination.count else { return CodecError(reason: "plain chunk of \(payload.count) bytes, expected \(destination.count)") }
            if payload.count > 0 { destination.baseAddress!.copyMemory(from: payload.baseAddress!, byteCount: payload.count) }
            return nil
        case .shuffleZstd:
            return unplanes(payload, width: dtype.byteWidth, into: destination)
        case .delta1Rans, .delta2Rans:
            guard let kind = ransKind(dtype) else { return CodecError(reason: "\(codec.rawValue) does not code \(dtype.rawValue)") }
            guard predecessors.count >= codec.predecessors, predecessors.allSatisfy({ $0.count == destination.count }) else {
                return CodecError(reason: "\(codec.rawValue) needs \(codec.predecessors) earlier steps of the same size")
            }
            let n = destination.count / dtype.byteWidth
            let status = emalog_rans_decode(payload.baseAddress?.assumingMemoryBound(to: UInt8.self), payload.count,
                                            predecessors[0].baseAddress, codec == .delta2Rans ? predecessors[1].baseAddress : nil,
                                            destination.baseAddress, n, kind, Int32(threads), vectors.rawValue)
            return status == 0 ? nil : CodecError(reason: "\(codec.rawValue) stream is malformed (code \(status))")
        case .delta1Zstd, .delta2Zstd:
            guard predecessors.count >= codec.predecessors, predecessors.allSatisfy({ $0.count == destination.count }) else {
                return CodecError(reason: "\(codec.rawValue) needs \(codec.predecessors) earlier steps of the same size")
            }
            let body = scratch(1, count: destination.count)
            if let failure = unplanes(payload, width: dtype.byteWidth, into: body) { return failure }
            Residuals.decode(UnsafeRawBufferPointer(body), predecessors: Array(predecessors.prefix(codec.predecessors)),
                             width: dtype.byteWidth, key: ExponentKey.of(dtype), into: destination)
            return nil
        }
    }

    /// Below this many elements the zstd residual is used: rANS tables would outweigh the data.
    static let smallChunk = 4096

    /// The rANS residual payload against one or two predecessors (newest first). Encoded into
    /// reusable scratch, then copied out at its exact size (a chunk's worst-case bound is ~6x its
    /// elements: kept per chunk until the insert, that was most of an ingest's memory).
    private func rans(_ bytes: UnsafeRawBufferPointer, kind: Int32, predecessors: [UnsafeRawBufferPointer]) -> [UInt8] {
        let n = bytes.count / (kind == EMALOG_RANS_F32 ? 4 : 2)
        let symbols = scratch(0, count: max(emalog_rans_scratch_size(n), 1))
        let bound = emalog_rans_bound(n)
        let out = scratch(2, count: bound)
        let count = emalog_rans_encode(bytes.baseAddress, predecessors[0].baseAddress,
                                       predecessors.count >= 2 ? predecessors[1].baseAddress : nil, n, kind,
                                       symbols.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                       out.baseAddress!.assumingMemoryBound(to: UInt8.self), bound, Int32(threads), vectors.rawValue)
        precondition(count > 0, "rANS encoding failed (out of memory)")
        return Array(UnsafeRawBufferPointer(rebasing: out[0..<count]))
    }

    /// Byte planes, each zstd-compressed or raw: [version, width, width × (mode u8, length u32)] + planes.
    /// Built in reusable scratch and copied out at its exact size.
    private func planes(of bytes: UnsafeRawBufferPointer, width: Int) -> [UInt8] {
        let n = bytes.count / width
        let shuffled = scratch(0, count: max(bytes.count, 1))
        emalog_shuffle(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), shuffled.baseAddress!.assumingMemoryBound(to: UInt8.self), n, width)
        let bound = ZSTD_compressBound(n)
        let o = scratch(2, count: 2 + 5 * width + width * bound)
        o[0] = Self.formatVersion
        o[1] = UInt8(width)
        var offset = 2 + 5 * width
        for k in 0..<width {
            let plane = shuffled.baseAddress! + k * n
            let written = ZSTD_compressCCtx(cctx, o.baseAddress! + offset, bound, plane, n, Self.level)
            let mode: UInt8
            let length: Int
            if ZSTD_isError(written) == 0 && written < n {
                mode = 1
                length = written
            } else {
                mode = 0
                length = n
                (o.baseAddress! + offset).copyMemory(from: plane, byteCount: n)
            }
            o[2 + 5 * k] = mode
            o.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 3 + 5 * k, as: UInt32.self)
            offset += length
        }
        return Array(UnsafeRawBufferPointer(rebasing: o[0..<offset]))
    }

    private func unplanes(_ payload: UnsafeRawBufferPointer, width: Int, into destination: UnsafeMutableRawBufferPointer) -> CodecError? {
        let n = destination.count / width
        guard payload.count >= 2 + 5 * width, payload[0] == Self.formatVersion, Int(payload[1]) == width else {
            return CodecError(reason: "bad plane header")
        }
        let shuffled = scratch(0, count: max(destination.count, 1))
        var offset = 2 + 5 * width
        for k in 0..<width {
            let mode = payload[2 + 5 * k]
            let length = Int(UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: 3 + 5 * k, as: UInt32.self)))
            guard offset + length <= payload.count else { return CodecError(reason: "plane \(k) runs past the payload") }
            let source = payload.baseAddress! + offset
            let plane = shuffled.baseAddress! + k * n
            switch mode {
            case 0:
                guard length == n else { return CodecError(reason: "raw plane \(k) holds \(length) bytes, expected \(n)") }
                if n > 0 { plane.copyMemory(from: source, byteCount: n) }
            case 1:
                let got = ZSTD_decompressDCtx(dctx, plane, n, source, length)
                guard ZSTD_isError(got) == 0, got == n else { return CodecError(reason: "plane \(k) does not decompress to \(n) bytes") }
            default:
                return CodecError(reason: "unknown plane mode \(mode)")
            }
            offset += length
        }
        guard offset == payload.count else { return CodecError(reason: "\(payload.count - offset) trailing bytes") }
        if n > 0 {
            emalog_unshuffle(shuffled.baseAddress!.assumingMemoryBound(to: UInt8.self),
                             destination.baseAddress!.assumingMemoryBound(to: UInt8.self), n, width)
        }
        return nil
    }
}
