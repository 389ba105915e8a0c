#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMAKernel

/// A folder that receives one output file per result (`sweep`), each checked like any output.
public struct OutputFolder: Sendable, Equatable {
    /// The folder as the user gave it.
    public let path: String
    /// The format of every file in it.
    public let format: OutputFormat
    let logPaths: [String]

    init(path: String, format: OutputFormat, logPaths: [String]) throws(QueryError) {
        self.path = path
        self.format = format
        self.logPaths = logPaths
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & S_IFMT != S_IFDIR { throw .outputNotAFolder(path: path) }
    }

    /// The output `name` inside the folder, which is created (with its parents) if missing.
    public func target(named name: String) throws(QueryError) -> OutputTarget {
        try Self.makeFolder(path)
        return try OutputTarget(path: Path.join(path, name), format: format, logPaths: logPaths)
    }

    /// Writes each result to `<track-name>-step-<S>.<format>` (a spec's name holds only letters,
    /// digits, `-`, `_` and `.`, so it never leaves the folder).
    /// Every target is checked before the first file is written.
    public func write(_ results: [ShadowResult], precision: ShadowResult.Precision) throws {
        let targets = try results.map { result throws(QueryError) in
            result.logPaths.reduce(try target(named: "\(result.spec.name)-step-\(result.step).\(format.rawValue)")) { $0.protecting($1) }
        }
        for (result, target) in zip(results, targets) { try result.write(to: target, precision: precision) }
    }

    /// `mkdir -p`, with errors that say which folder could not be made.
    private static func makeFolder(_ path: String) throws(QueryError) {
        var st = stat()
        if stat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw .outputNotAFolder(path: path) }
            return
        }
        let parent = Path.folder(of: path)
        if parent != path { try makeFolder(parent) }
        if mkdir(path, 0o777) != 0, errno != EEXIST {
            let code = errno
            throw .outputIO(path: path, action: "create the folder", code: code, reason: Path.error(code))
        }
    }
}
