import EMALogFormats
import Foundation

/// A safetensors checkpoint written by a training-time EMA, mapped and validated like a step file
/// (every format rule, the SIGBUS guard) except that it needs no step number.
final class CheckpointFile: Sendable {
    let path: String
    let header: SafetensorsHeader
    let mapped: MappedFile

    /// Maps and validates `path`: a broken file is `IngestError.badFile` (bad input), a missing one
    /// `IngestError.inputNotFound`.
    init(path: String) throws(IngestError) {
        self.path = path
        let mapped = try MappedFile(path: path)
        do throws(SafetensorsError) {
            let n = try Safetensors.headerLength(prefix: mapped.bytes, fileSize: mapped.bytes.count)
            header = try Safetensors.decodeHeader(mapped[8..<(8 + n)], fileSize: mapped.bytes.count)
        } catch {
            try mapped.checkUnchanged()
            throw .badFile(path: path, error)
        }
        self.mapped = mapped
    }

    /// The step the checkpoint says it was saved at (`__metadata__["step"]`), if it says so.
    var metadataStep: Int? {
        guard let text = header.metadata["step"], let step = Int(text), step >= 0 else { return nil }
        return step
    }

    /// The bytes of `tensor` (valid while the file is alive).
    func bytes(of tensor: TensorInfo) -> UnsafeRawBufferPointer {
        mapped[(header.dataOffset + tensor.byteRange.lowerBound)..<(header.dataOffset + tensor.byteRange.upperBound)]
    }

    /// Throws when the file changed while it was read: what was compared may be a mix of versions.
    func checkUnchanged() throws(IngestError) { try mapped.checkUnchanged() }
}
