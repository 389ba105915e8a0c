import EMALogFormats
import Foundation

/// Checks that what a benchmark timed came back right, so a wrong result cannot pass for a fast
/// one: a failed check ends the run with a message instead of printing figures.
enum BenchCheck {
    /// Tensor `name` of the safetensors file at `path` holds exactly `expected`.
    static func tensor(_ name: String, of path: String, equals expected: [UInt8]) throws {
        let tensors = try load(path)
        guard let found = tensors[name] else { fail("\(path) has no tensor \(name)") }
        guard found == expected else { fail("\(path): tensor \(name) differs from what was ingested") }
    }

    /// The two safetensors files hold the same tensors (names, bytes).
    static func sameTensors(_ a: String, _ b: String) throws {
        guard try load(a) == load(b) else { fail("\(a) and \(b) hold different tensors") }
        print("checked: \((a as NSString).lastPathComponent) equals \((b as NSString).lastPathComponent) tensor for tensor")
    }

    private static func load(_ path: String) throws -> [String: [UInt8]] {
        let data = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        return try data.withUnsafeBytes { bytes in
            let n = try Safetensors.headerLength(prefix: bytes, fileSize: bytes.count)
            let header = try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)]), fileSize: bytes.count)
            var out: [String: [UInt8]] = [:]
            for t in header.tensors {
                out[t.name] = Array(bytes[(header.dataOffset + t.byteRange.lowerBound)..<(header.dataOffset + t.byteRange.upperBound)])
            }
            return out
        }
    }

    private static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("bench: what was timed came back wrong: \(message); the figures are void\n".utf8))
        exit(1)
    }
}
