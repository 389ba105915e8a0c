#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel
import EMALogFormats
import EMALogStore

extension ShadowResult {
    /// How floating tensors are written.
    public enum Precision: String, Sendable, CaseIterable {
        /// Float32, the shadow's own precision.
        case f32
        /// Each parameter's dtype, rounded to nearest even.
        case param
    }

    /// The tensors to write, in the log's order.
    public func outputTensors(precision: Precision) -> [OutputTensor] {
        tensors.map { tensor in
            guard tensor.dtype.isFloating else {
                let bytes = integerBytes(of: tensor)
                return OutputTensor(layout: tensor.layout) { emit in try bytes.withUnsafeBytes(emit) }
            }
            let dtype = precision == .param ? FloatingDType(rawValue: tensor.dtype.rawValue)! : .f32
            let layout = TensorLayout(name: tensor.name, dtype: DType(rawValue: dtype.rawValue)!, shape: tensor.shape)
            return OutputTensor(layout: layout) { emit in
                try withValues(of: tensor) { values in
                    if dtype == .f32 { return try emit(UnsafeRawBufferPointer(values)) }
                    try Widening.narrow(values, to: dtype, inBlocksOf: 1 << 16, emit)
                }
            }
        }
    }
}

extension ShadowResult {
    /// Writes the shadow to `target` (which also never overwrites this shadow's own log).
    public func write(to target: OutputTarget, precision: Precision) throws {
        try TensorOutput.write(outputTensors(precision: precision), metadata: metadata,
                               to: logPaths.reduce(target) { $0.protecting($1) })
    }

    /// Writes the shadow to `path` in `format` (`-` for stdout), checked against its log like any output.
    public func write(to path: String, format: OutputFormat, precision: Precision) throws {
        try write(to: OutputTarget(path: path, format: format, logPaths: logPaths), precision: precision)
    }
}
