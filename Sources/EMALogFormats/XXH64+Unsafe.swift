/// XXH64, the 64-bit xxHash (https://github.com/Cyan4973/xxHash), used for chunk checksums and file hashes.
public struct XXH64: Sendable {
    static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var v1, v2, v3, v4: UInt64
    private let seed: UInt64
    private var total = 0
    private var tail: [UInt8] = []

    /// A hasher with `seed` (0 by default).
    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ Self.p1 &+ Self.p2
        v2 = seed &+ Self.p2
        v3 = seed
        v4 = seed &- Self.p1
        tail.reserveCapacity(32)
    }

    /// The hash of one buffer.
    public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        var h = XXH64(seed: seed)
        h.update(bytes)
        return h.finalize()
    }

    @inline(__always) static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        ((acc &+ input &* p2) <<< 31) &* p1
    }

    @inline(__always) static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 {
        (acc ^ round(0, v)) &* p1 &+ p4
    }

    /// Feeds more bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        total += bytes.count
        var p = 0
        let n = bytes.count
        if !tail.isEmpty {
            let take = min(32 - tail.count, n)
            tail.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            p = take
            guard tail.count == 32 else { return }
            tail.withUnsafeBytes { stripe($0.baseAddress!) }
            tail.removeAll(keepingCapacity: true)
        }
        while n - p >= 32 {
            stripe(base + p)
            p += 32
        }
        if p < n { tail.append(contentsOf: UnsafeRawBufferPointer(start: base + p, count: n - p)) }
    }

    @inline(__always) private mutating func stripe(_ q: UnsafeRawPointer) {
        v1 = Self.round(v1, UInt64(littleEndian: q.loadUnaligned(as: UInt64.self)))
        v2 = Self.round(v2, UInt64(littleEndian: q.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
        v3 = Self.round(v3, UInt64(littleEndian: q.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
        v4 = Self.round(v4, UInt64(littleEndian: q.loadUnaligned(fromByteOffset: 24, as: UInt64.self)))
    }

    /// The hash of everything fed so far.
    public func finalize() -> UInt64 {
        var h: UInt64
        if total >= 32 {
            h = (v1 <<< 1) &+ (v2 <<< 7) &+ (v3 <<< 12) &+ (v4 <<< 18)
            h = Self.merge(h, v1); h = Self.merge(h, v2); h = Self.merge(h, v3); h = Self.merge(h, v4)
        } else {
            h = seed &+ Self.p5
        }
        h = h &+ UInt64(total)
        tail.withUnsafeBytes { t in
            var i = 0
            while i + 8 <= t.count {
                h ^= Self.round(0, UInt64(littleEndian: t.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                h = (h <<< 27) &* Self.p1 &+ Self.p4
                i += 8
            }
            if i + 4 <= t.count {
                h ^= UInt64(UInt32(littleEndian: t.loadUnaligned(fromByteOffset: i, as: UInt32.self))) &* Self.p1
                h = (h <<< 23) &* Self.p2 &+ Self.p3
                i += 4
            }
            while i < t.count {
                h ^= UInt64(t[i]) &* Self.p5
                h = (h <<< 11) &* Self.p1
                i += 1
            }
        }
        h ^= h >> 33; h = h &* Self.p2
        h ^= h >> 29; h = h &* Self.p3
        h ^= h >> 32
        return h
    }
}

infix operator <<< : BitwiseShiftPrecedence
@inline(__always) func <<< (x: UInt64, r: UInt64) -> UInt64 { (x << r) | (x >> (64 - r)) }

extension UInt64 {
    /// 16 lowercase hex digits.
    public var hex16: String {
        let s = String(self, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
