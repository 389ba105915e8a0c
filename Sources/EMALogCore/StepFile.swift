import EMALogFormats
import Foundation

/// A safetensors file of one training step, mapped and validated.
public final class StepFile: Sendable {
    /// The file as given.
    public let path: String
    public let step: Int
    public let header: SafetensorsHeader
    public let mapped: MappedFile

    /// Maps and validates `path`; every format rule is checked here.
    public init(path: String) throws(IngestError) {
        self.path = path
        let mapped = try MappedFile(path: path)
        let fileName = (path as NSString).lastPathComponent
        do throws(SafetensorsError) {
            let n = try Safetensors.headerLength(prefix: mapped.bytes, fileSize: mapped.bytes.count)
            header = try Safetensors.decodeHeader(mapped[8..<(8 + n)], fileSize: mapped.bytes.count)
            step = try Safetensors.step(metadata: header.metadata, fileName: fileName)
        } catch {
            throw .badFile(path: path, error)
        }
        self.mapped = mapped
    }

    /// The bytes of `tensor`.
    public func bytes(of tensor: TensorInfo) -> UnsafeRawBufferPointer {
        mapped[(header.dataOffset + tensor.byteRange.lowerBound)..<(header.dataOffset + tensor.byteRange.upperBound)]
    }

    /// XXH64 of the whole file.
    public var fileHash: UInt64 { XXH64.hash(mapped.bytes) }

    /// The step a file would have without reading its tensors: metadata, else the name's digits.
    /// Returns nil when neither gives one (the full read will report why).
    public static func probeStep(path: String) -> Int? {
        let fileName = (path as NSString).lastPathComponent
        return try? Safetensors.step(metadata: probeMetadata(path: path), fileName: fileName)
    }

    /// `__metadata__` read from the header alone, or empty when the header cannot be read.
    static func probeMetadata(path: String) -> [String: String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [:] }
        defer { try? handle.close() }
        guard let prefix = try? handle.read(upToCount: 8), prefix.count == 8 else { return [:] }
        let n = prefix.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(Safetensors.maxHeaderLength), let body = try? handle.read(upToCount: Int(n)),
              body.count == Int(n),
              case let .object(members)? = try? body.withUnsafeBytes({ b throws(JSONError) in try JSONParser.parse(b) })
        else { return [:] }
        guard let meta = members.first(where: { $0.key == "__metadata__" }), case let .object(fields) = meta.value else {
            return [:]
        }
        var out: [String: String] = [:]
        for field in fields { if case let .string(s) = field.value { out[field.key] = s } }
        return out
    }
}
