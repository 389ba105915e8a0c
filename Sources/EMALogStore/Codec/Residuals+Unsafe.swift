import CZstd
import EMALogFormats
import EMALogStoreC
import Foundation

/// Residuals against the linear prediction, zigzag-coded and grouped by exponent (C loops:
/// fast in debug builds too).
enum Residuals {
    static func encode(_ x: UnsafeRawBufferPointer, predecessors: [UnsafeRawBufferPointer], width: Int, key: ExponentKey?,
                       into out: UnsafeMutableRawBufferPointer) {
        withCursors(key) { cursors in
            emalog_residual_encode(x.baseAddress, predecessors[0].baseAddress, predecessors.count > 1 ? predecessors[1].baseAddress : nil,
                                   out.baseAddress, x.count / width, Int32(width), Int32(key?.shift ?? 0), key?.mask ?? 0, cursors)
        }
    }

    static func decode(_ r: UnsafeRawBufferPointer, predecessors: [UnsafeRawBufferPointer], width: Int, key: ExponentKey?,
                       into out: UnsafeMutableRawBufferPointer) {
        withCursors(key) { cursors in
            emalog_residual_decode(r.baseAddress, predecessors[0].baseAddress, predecessors.count > 1 ? predecessors[1].baseAddress : nil,
                                   out.baseAddress, out.count / width, Int32(width), Int32(key?.shift ?? 0), key?.mask ?? 0, cursors)
        }
    }

    private static func withCursors(_ key: ExponentKey?, _ body: (UnsafeMutablePointer<Int>) -> Void) {
        let count = (key?.buckets ?? 0) + 2
        withUnsafeTemporaryAllocation(of: Int.self, capacity: count) { body($0.baseAddress!) }
    }
}
