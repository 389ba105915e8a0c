import EMALogFormats
import Foundation

/// A step's source file checked against what its ingest recorded (`audit --sources`).
enum SourceFile {
    enum Outcome: Equatable {
        case same
        /// Not there, or not a readable regular file; why.
        case missing(String)
        /// There with another size or XXH64; how it differs.
        case changed(String)
    }

    /// Whether `path` is still a file of `size` bytes whose XXH64 is `hash`, read in 16 MiB pieces.
    static func check(_ path: String, size: Int, hash: UInt64) -> Outcome {
        guard let (fd, info) = try? RegularFile.openForReading(path) else {
            return FileManager.default.fileExists(atPath: path) ? .missing("cannot be read as a regular file") : .missing("does not exist")
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        let found = Int(info.st_size)
        guard found == size else { return .changed("has \(found) bytes, the step recorded \(size)") }
        var hasher = XXH64()
        var read = 0
        while let piece = try? handle.read(upToCount: 16 << 20), !piece.isEmpty {
            piece.withUnsafeBytes { hasher.update($0) }
            read += piece.count
        }
        guard read == size else { return .changed("gave \(read) bytes when read, the step recorded \(size)") }
        let actual = hasher.finalize()
        guard actual == hash else {
            return .changed("has XXH64 \(Self.hex(actual)), the step recorded \(Self.hex(hash))")
        }
        return .same
    }

    static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
