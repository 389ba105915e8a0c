import CZstd
import Foundation
import EMALogFormats
import EMALogStoreC

/// How a chunk's bytes are encoded (the `codec` column). Every codec is lossless.
///
/// - `plain`: the little-endian bytes as they are.
/// - `shuffle-zstd` (keyframe): byte planes (all first bytes, then all second bytes, ...), each
///   plane zstd-compressed or kept raw when that is smaller.
/// - `delta1-zstd` / `delta2-zstd`: the residual against a prediction from the same chunk at the
///   previous one or two stored steps (p1, or 2·p1 − p2, in wrapping integer arithmetic on the bit
///   patterns), zigzag-coded, grouped by the exponent of p1 (a counting sort both sides can
///   compute, so nothing extra is stored), then byte planes and zstd as above. Written for
///   dtypes other than F32, BF16 and F16, and read for logs written before the rANS codecs.
/// - `delta1-rans` / `delta2-rans` (F32, BF16, F16): the residual against p1, or p1 + (p1 − p2)
///   computed in the value's own float arithmetic (integer for F16), in sign-magnitude; its
///   magnitude class (bit length and the next two bits) entropy-coded with static rANS, one table
///   per exponent of p1; the low bits and the sign stored raw (EMALogStoreC/rans.c).
public enum Codec: String, Sendable, CaseIterable {
    case plain
    case shuffleZstd = "shuffle-zstd"
    case delta1Zstd = "delta1-zstd"
    case delta2Zstd = "delta2-zstd"
    case delta1Rans = "delta1-rans"
    case delta2Rans = "delta2-rans"

    /// How many earlier steps of the same chunk decoding needs.
    public var predecessors: Int {
        switch self {
        case .plain, .shuffleZstd: 0
        case .delta1Zstd, .delta1Rans: 1
        case .delta2Zstd, .delta2Rans: 2
        }
    }
}

/// Threads for coding one chunk of `bytes` beside others totalling `total` bytes: two (its two
/// segments side by side) when the chunk is more than one core's fair share, so a big tensor does
/// not leave a core idle; one otherwise.
public func segmentThreads(chunk bytes: Int, total: Int) -> Int {
    bytes > total / Cores.count ? 2 : 1
}

/// The rANS coder's element kind for a dtype, nil where residuals go through zstd.
func ransKind(_ dtype: DType) -> Int32? {
    switch dtype {
    case .f32: Int32(EMALOG_RANS_F32)
    case .bf16: Int32(EMALOG_RANS_BF16)
    case .f16: Int32(EMALOG_RANS_F16)
    default: nil
    }
}

/// Grouping of elements by exponent, so residuals of a similar scale sit together.
struct ExponentKey {
    var shift: Int
    var mask: UInt64

    var buckets: Int { Int(mask) + 1 }

    static func of(_ dtype: DType) -> ExponentKey? {
        switch dtype {
        case .f32: ExponentKey(shift: 23, mask: 0xFF)
        case .bf16: ExponentKey(shift: 7, mask: 0xFF)
        case .f16: ExponentKey(shift: 10, mask: 0x1F)
        case .f64: ExponentKey(shift: 52, mask: 0x7FF)
        default: nil
        }
    }
}
