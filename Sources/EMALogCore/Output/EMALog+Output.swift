#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension EMALog {
    /// The output `path` (`-` for stdout) in `format`, or the format its extension names; checked now
    /// against this log (never the log, its -wal or -shm), a folder, a missing folder, an unknown
    /// extension, so a bad `-o` fails before any shadow is computed.
    public func output(to path: String, format: OutputFormat? = nil) throws(QueryError) -> OutputTarget {
        try OutputTarget(path: path, format: format, logPaths: logPaths)
    }

    /// A folder for one file per result (`sweep -o DIR`), created when the first file is written;
    /// an existing path that is not a folder is refused now.
    public func outputFolder(at path: String, format: OutputFormat = .safetensors) throws(QueryError) -> OutputFolder {
        try OutputFolder(path: path, format: format, logPaths: logPaths)
    }

    /// A text document (SVG, HTML) at `path` (`-` for stdout), whose name must end in one of
    /// `extensions`; checked now against every log in `logs`.
    public static func documentOutput(to path: String, extensions: [String], protecting logs: [EMALog]) throws(QueryError)
        -> OutputTarget
    {
        try OutputTarget(documentAt: path, extensions: extensions, logPaths: logs.flatMap(\.logPaths))
    }

    /// The files an output must never overwrite: the log, or every rank's log of a sharded training.
    var logPaths: [String] { shards.isEmpty ? [path] : shards.map(\.path) }
}

extension OutputTarget {
    /// Writes `text` (UTF-8) to the target: atomically for a regular file, in place for a FIFO or device.
    public func write(text: String) throws(QueryError) {
        let sink = try OutputSink(self)
        try sink.write(text)
        try sink.commit()
    }
}
