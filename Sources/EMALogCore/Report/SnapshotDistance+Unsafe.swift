import EMAKernel
import EMALogFormats
import EMALogStore

/// The distance of a stored snapshot to the raw weights of its step, for `plot --tracks` on a log
/// whose retention policy left out raw steps (no replay can reach those snapshots).
enum SnapshotDistance {
    /// Σ(shadow − θ)² and Σθ² over `tensors` (floating), the snapshot's Float32 values against the
    /// raw weights of `step` widened to Float32, summed in Double.
    static func sums(_ snapshot: SnapshotRecord, step: Int, tensors: [TensorRecord], _ r: any LogReader) throws
        -> (distance: Double, theta: Double) {
        var distance = 0.0, theta = 0.0
        for tensor in tensors {
            guard let dtype = FloatingDType(rawValue: tensor.dtype.rawValue) else { continue }
            var raw = [Float](repeating: 0, count: tensor.elementCount)
            _ = try raw.withUnsafeMutableBufferPointer { out in
                try r.forEachChunk(of: tensor, in: .step(step)) { offset, bytes in
                    guard let base = bytes.baseAddress, bytes.count > 0 else { return }
                    Widening.widen(base, dtype: dtype, count: bytes.count / dtype.byteWidth, into: out.baseAddress! + offset / dtype.byteWidth)
                }
            }
            _ = try r.forEachChunk(of: tensor, in: .snapshot(snapshot.id)) { offset, bytes in
                let first = offset / 4
                for i in 0..<(bytes.count / 4) {
                    let s = Double(Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                    let t = Double(raw[first + i])
                    distance += (s - t) * (s - t)
                    theta += t * t
                }
            }
        }
        return (distance, theta)
    }
}
