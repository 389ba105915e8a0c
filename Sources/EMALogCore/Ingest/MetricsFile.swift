import EMALogFormats
import Foundation

/// Where a metrics file was read up to, and which file it was, for `--follow` to resume from.
struct MetricsCursor: Equatable {
    /// Bytes consumed (whole lines only).
    var offset = 0
    /// The line number the next read starts at.
    var nextLine = 1
    /// The file read (nil before the first read).
    var identity: FileIdentity?
    /// The last bytes before `offset` (up to `tailLength`), to notice a file rewritten in place.
    var tail: [UInt8] = []

    static let tailLength = 64
}

/// A metrics JSON Lines file, decoded and validated before anything is stored.
struct MetricsFile {
    var path: String
    var lines: [MetricsLine] = []
    /// Where the next read resumes.
    var cursor = MetricsCursor()
    /// Why the read started again from the first line rather than at the cursor it was given
    /// (the file was replaced, truncated or rewritten), or nil.
    var restarted: String?

    /// Decodes the complete lines of `path` from `cursor`; a partial last line is left for later
    /// when `allowPartialTail`, else decoded too. Errors name the file and line.
    ///
    /// A cursor from an earlier read is resumed only when it still describes the file: the same
    /// device and inode (not replaced by a rename), at least as long (not truncated), and the same
    /// bytes just before it (not rewritten in place). Otherwise the file is read again from its
    /// first line (lines already stored are no-ops) and `restarted` says why.
    static func read(path: String, from cursor: MetricsCursor = MetricsCursor(), allowPartialTail: Bool) throws(IngestError)
        -> MetricsFile
    {
        let mapped = try MappedFile(path: path)
        var file = MetricsFile(path: path)
        let bytes = mapped.bytes
        var start = cursor.offset
        var lineNumber = cursor.nextLine
        if let identity = cursor.identity {
            if identity != mapped.identity {
                file.restarted = "it was replaced by another file"
            } else if bytes.count < cursor.offset {
                file.restarted = "it was truncated (\(cursor.offset) bytes read, \(bytes.count) now)"
            } else if !bytes[(cursor.offset - cursor.tail.count)..<cursor.offset].elementsEqual(cursor.tail) {
                file.restarted = "it was rewritten"
            }
        }
        if file.restarted != nil {
            start = 0
            lineNumber = 1
        }
        var keys = MetricsKeyCache()
        (start, lineNumber) = try decodeLines(bytes, from: start, line: lineNumber, allowPartialTail: allowPartialTail,
                                              path: path, keys: &keys, into: &file.lines)
        // Growing is what a followed metrics file does; being cut short under the mapping is not.
        if mapped.wasCutShort { throw .changedWhileReading(path: path, detail: "it was cut short while being read") }
        file.cursor = MetricsCursor(offset: start, nextLine: lineNumber, identity: mapped.identity,
                                    tail: Array(bytes[max(0, start - MetricsCursor.tailLength)..<start]))
        return file
    }

    /// Decodes the lines of `bytes` from offset `start` (line number `line`) into `lines`; a partial
    /// last line is left when `allowPartialTail`. Returns where the next read starts and its line.
    static func decodeLines(_ bytes: UnsafeRawBufferPointer, from start: Int, line: Int, allowPartialTail: Bool, path: String,
                            keys: inout MetricsKeyCache, into lines: inout [MetricsLine]) throws(IngestError) -> (Int, Int) {
        var start = start, lineNumber = line
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            if end == bytes.count && allowPartialTail { break }
            var line = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
            if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                if let fast = MetricsLine.decodeFast(line, cache: &keys) {
                    lines.append(fast)  // its keys are printable ASCII
                } else {
                    let decoded: MetricsLine
                    do { decoded = try MetricsLine.decode(line) } catch {
                        throw .badMetricsLine(path: path, line: lineNumber, error)
                    }
                    // SQLite text bound or read through C strings ends at a NUL: such a key cannot be stored.
                    if let key = decoded.values.first(where: { $0.key.utf8.contains(0) })?.key {
                        throw .nulInName(path: path, line: lineNumber, name: key)
                    }
                    lines.append(decoded)
                }
            }
            start = min(end + 1, bytes.count)
            lineNumber += 1
        }
        return (start, lineNumber)
    }
}
