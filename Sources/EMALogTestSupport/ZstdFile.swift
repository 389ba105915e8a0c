import CZstd
import Foundation

/// Committed fixtures that are mostly empty pages (old logs) are kept zstd-compressed.
public enum ZstdFile {
    /// Decompresses the single zstd frame at `source` into a new file at `destination`.
    public static func decompress(_ source: String, to destination: String) throws {
        let input = try [UInt8](Data(contentsOf: URL(fileURLWithPath: source)))
        let size = input.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        guard size < UInt64(1 << 34) else { throw CocoaError(.fileReadCorruptFile) }
        var output = [UInt8](repeating: 0, count: Int(size))
        let written = output.withUnsafeMutableBytes { o in
            input.withUnsafeBytes { ZSTD_decompress(o.baseAddress, o.count, $0.baseAddress, $0.count) }
        }
        guard ZSTD_isError(written) == 0, written == Int(size) else { throw CocoaError(.fileReadCorruptFile) }
        try Data(output).write(to: URL(fileURLWithPath: destination))
    }
}
