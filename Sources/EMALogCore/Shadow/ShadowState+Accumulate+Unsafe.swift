import EMALogStore

extension ShadowState {
    /// Adds `other × c` to every floating tensor of `tensors`, in Float32 as torch's `out += x * c`
    /// does: each product rounded to Float32, then each sum (no fused multiply-add: Swift does not
    /// contract them).
    func accumulate(_ other: ShadowState, times c: Float, tensors: [TensorRecord]) {
        for tensor in tensors {
            let out = pointer(tensor.id), x = other.pointer(tensor.id)
            for i in 0..<tensor.elementCount {
                let product = x[i] * c
                out[i] = out[i] + product
            }
        }
    }
}
