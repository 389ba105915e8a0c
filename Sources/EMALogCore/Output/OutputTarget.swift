#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a command's tensors go (`-o`), checked against the log before anything is computed or
/// written. Only a log makes one (`EMALog.output(to:format:)`), so no output can overwrite it.
///
/// - `-` is stdout.
/// - `/dev/stdout`, `/dev/stderr`, `/dev/fd/N` are written through the open descriptor itself. A FIFO,
///   a character or block device, or a path under `/proc` is opened and written in place, never replaced.
/// - Anything else is a regular file, replaced atomically: a temporary file created exclusively in
///   its folder, written, synced, then renamed over it. A symbolic link is written through: the file
///   it points to is replaced and the link is kept; a link to a missing file is refused.
/// - The log itself, its `-wal`, `-shm` or `-journal`, under any spelling (hard links, symbolic
///   links, `..`), is refused.
public struct OutputTarget: Sendable, Equatable {
    /// The path as the user gave it (`-` for stdout).
    public let path: String
    /// The format written.
    public private(set) var format: OutputFormat
    /// The logs this output must never overwrite.
    private(set) var logPaths: [String]
    /// A text document (SVG, HTML) rather than tensors: may go to a terminal; `format` is unused.
    private(set) var isDocument = false

    /// Checks `path` now (so a bad `-o` is refused before any work); `format` nil infers it from the extension.
    init(path: String, format: OutputFormat?, logPaths: [String]) throws(QueryError) {
        self.path = path
        self.format = format ?? .safetensors
        self.logPaths = logPaths
        _ = try destination()  // the log, a folder, a missing folder: before the extension
        if format == nil { self.format = try OutputFormat.inferred(from: path) }
    }

    /// A text document (a picture, a page) at `path`, which must end in one of `extensions` (or be
    /// `-` or a device); checked now against every log in `logPaths`.
    init(documentAt path: String, extensions: [String], logPaths: [String]) throws(QueryError) {
        self.path = path
        format = .json
        self.logPaths = logPaths
        isDocument = true
        let destination = try destination()
        if case .replace = destination {
            let name = Path.name(of: path).lowercased()
            guard extensions.contains(where: { name.hasSuffix("." + $0) }) else {
                throw .wrongDocumentExtension(path: path, expected: extensions)
            }
        }
    }

    /// The same output, also never overwriting the log at `logPath`.
    func protecting(_ logPath: String) -> OutputTarget {
        var copy = self
        if !copy.logPaths.contains(logPath) { copy.logPaths.append(logPath) }
        return copy
    }

    /// Where the bytes go now: resolved again at each write, since files may come and go while a
    /// shadow is computed.
    func destination() throws(QueryError) -> OutputDestination {
        try OutputDestination.resolve(path, binary: !isDocument && format != .json, format: format,
                                      protecting: ProtectedFiles(logs: logPaths))
    }
}

/// The place an output's bytes are written, as resolved from its path.
enum OutputDestination: Equatable {
    /// An open file descriptor of this process: 1 for `-` and `/dev/stdout`, N for `/dev/fd/N`.
    /// Written as it is (a `>>` redirection keeps appending), never reopened or replaced.
    case descriptor(Int32)
    /// An existing file that is not replaced: a FIFO, a device, `/dev/stdout`.
    case inPlace(path: String)
    /// A regular file `folder/name` (existing or not), replaced atomically.
    case replace(folder: String, name: String)

    static func resolve(_ path: String, binary: Bool, format: OutputFormat, protecting log: ProtectedFiles) throws(QueryError)
        -> OutputDestination
    {
        if let fd = Path.descriptor(named: path) {
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                let code = errno
                throw .outputIO(path: path == "-" ? "stdout" : path, action: "look up", code: code, reason: Path.error(code))
            }
            if let file = log.file(matching: st) { throw .outputIsLog(path: path == "-" ? "stdout" : path, logFile: file) }
            if path == "-", isatty(1) == 1, binary { throw .binaryToTerminal(format: format.rawValue) }
            return .descriptor(fd)
        }
        guard !path.isEmpty else { throw .outputFailed(path: "''", reason: "the output path is empty") }
        var st = stat()
        if stat(path, &st) == 0 {
            if let file = log.file(matching: st) { throw .outputIsLog(path: path, logFile: file) }
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                throw .outputIsFolder(path: path)
            case S_IFREG:
                guard let real = Path.real(path) else {
                    throw .outputIO(path: path, action: "resolve", code: errno, reason: Path.error(errno))
                }
                if Path.isSpecial(path) { return .inPlace(path: path) }
                return .replace(folder: Path.folder(of: real), name: Path.name(of: real))
            default:
                return .inPlace(path: path)
            }
        }
        let code = errno
        guard code == ENOENT else { throw .outputIO(path: path, action: "look up", code: code, reason: Path.error(code)) }
        if path.hasSuffix("/") { throw .outputIsFolder(path: path) }
        var link = stat()
        if lstat(path, &link) == 0 {
            throw .outputFailed(path: path, reason: "it is a symbolic link to a missing file (\(Path.link(path) ?? "?")); "
                + "emalog does not write through a dangling link: remove it or give the file's own path")
        }
        let folder = Path.folder(of: path)
        guard let realFolder = Path.real(folder) else {
            let code = errno
            if code == ENOENT { throw .outputFailed(path: path, reason: "the folder \(folder) does not exist: create it first") }
            throw .outputIO(path: path, action: "look up the folder \(folder)", code: code, reason: Path.error(code))
        }
        let name = Path.name(of: path)
        if let file = log.file(named: Path.join(realFolder, name)) { throw .outputIsLog(path: path, logFile: file) }
        return .replace(folder: realFolder, name: name)
    }
}

/// The log's files (main file, `-wal`, `-shm`, `-journal`) by device and inode where they exist,
/// and by resolved folder and name always (a `-wal` may not exist yet).
struct ProtectedFiles {
    private var identities: [(dev: UInt64, ino: UInt64, file: String)] = []
    private var names: [String: String] = [:]

    init(logs: [String]) {
        for log in logs { add(log) }
    }

    private mutating func add(_ log: String) {
        // SQLite resolves a symbolic link to the database and keeps -wal/-shm beside the real file.
        let spellings = [log] + (Path.real(log).map { [$0] } ?? [])
        for spelling in spellings {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let file = spelling + suffix
                var st = stat()
                if stat(file, &st) == 0 { identities.append((UInt64(st.st_dev), UInt64(st.st_ino), log + suffix)) }
                if let folder = Path.real(Path.folder(of: file)) {
                    names[Path.join(folder, Path.name(of: file))] = log + suffix
                }
            }
        }
    }

    /// The log file `st` is (by device and inode), if any.
    func file(matching st: stat) -> String? {
        identities.first { $0.dev == UInt64(st.st_dev) && $0.ino == UInt64(st.st_ino) }?.file
    }

    /// The log file at the resolved path `path`, if any.
    func file(named path: String) -> String? { names[path] }
}

/// Path helpers on strings (no Foundation): folder, name, `realpath`.
enum Path {
    /// The folder part of `path`: `.` for a bare name, `/` for `/x`.
    static func folder(of path: String) -> String {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// The last component of `path`.
    static func name(of path: String) -> String {
        let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
        guard let slash = trimmed.lastIndex(of: "/") else { return trimmed }
        return String(trimmed[trimmed.index(after: slash)...])
    }

    static func join(_ folder: String, _ name: String) -> String { folder.hasSuffix("/") ? folder + name : folder + "/" + name }

    /// The absolute path with every symbolic link, `.` and `..` resolved; nil (errno set) on failure.
    static func real(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The target of a symbolic link.
    static func link(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The descriptor a path names: `-` and `/dev/stdout` are 1, `/dev/stderr` 2, `/dev/fd/N` and
    /// `/proc/self/fd/N` are N.
    static func descriptor(named path: String) -> Int32? {
        switch path {
        case "-", "/dev/stdout": return 1
        case "/dev/stderr": return 2
        default:
            for prefix in ["/dev/fd/", "/proc/self/fd/"] where path.hasPrefix(prefix) {
                return Int32(path.dropFirst(prefix.count))
            }
            return nil
        }
    }

    /// Paths under `/proc`: views of kernel objects, never replaced by a rename even when they
    /// resolve to a regular file.
    static func isSpecial(_ path: String) -> Bool { path.hasPrefix("/proc/") }

    static func error(_ code: Int32) -> String { String(cString: strerror(code)) }
}
