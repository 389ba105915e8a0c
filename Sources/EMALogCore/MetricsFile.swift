import EMALogFormats
import Foundation

/// A metrics JSON Lines file, decoded and validated before anything is stored.
struct MetricsFile {
    var path: String
    var lines: [MetricsLine] = []
    /// Bytes consumed (whole lines only), for `--follow` to resume from.
    var consumed = 0
    /// The line number the next read starts at.
    var nextLine = 1

    /// Decodes the complete lines of `path` from byte `offset`; a partial last line is left for later
    /// when `allowPartialTail`, else decoded too. Errors name the file and line.
    static func read(path: String, from offset: Int = 0, firstLine: Int = 1, allowPartialTail: Bool) throws(IngestError)
        -> MetricsFile
    {
        let mapped = try MappedFile(path: path)
        var file = MetricsFile(path: path)
        let bytes = mapped.bytes
        var start = offset
        var lineNumber = firstLine
        var keys = MetricsKeyCache()
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            if end == bytes.count && allowPartialTail { break }
            var line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                if let fast = MetricsLine.decodeFast(line, cache: &keys) {
                    file.lines.append(fast)  // its keys are printable ASCII
                } else {
                    let decoded: MetricsLine
                    do { decoded = try MetricsLine.decode(line) } catch {
                        throw .badMetricsLine(path: path, line: lineNumber, error)
                    }
                    // SQLite text bound or read through C strings ends at a NUL: such a key cannot be stored.
                    if let key = decoded.values.first(where: { $0.key.utf8.contains(0) })?.key {
                        throw .nulInName(path: path, line: lineNumber, name: key)
                    }
                    file.lines.append(decoded)
                }
            }
            start = min(end + 1, bytes.count)
            lineNumber += 1
        }
        // Growing is what a followed metrics file does; being cut short under the mapping is not.
        if mapped.wasCutShort { throw .changedWhileReading(path: path, detail: "it was cut short while being read") }
        file.consumed = start
        file.nextLine = lineNumber
        return file
    }
}
