import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Runs the built `emalog` binary, as a user would.
public enum CLI {
    /// The binary next to the test bundle (same build folder).
    public static var binary: String {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: url.appendingPathComponent("emalog").path), url.path != "/" {
            url = url.deletingLastPathComponent()
        }
        return url.appendingPathComponent("emalog").path
    }

    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `emalog args...` to completion.
    @discardableResult
    public static func run(_ args: [String]) throws -> Result {
        try run(program: binary, args)
    }

    /// Runs `emalog args...` to completion with `input` on its stdin (written to a file first, so a
    /// large input never blocks on a full pipe).
    public static func run(_ args: [String], stdin input: Data) throws -> Result {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-stdin-\(UUID().uuidString)").path
        try input.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try run(program: binary, args, stdinPath: path)
    }

    /// Runs any program to completion (e.g. `setpriv ... emalog`); returns its status and output.
    ///
    /// posix_spawn and waitpid, stdout and stderr each into a file of its own: a child writing
    /// much to both never blocks on a pipe nobody reads, and no wait needs a Foundation or
    /// dispatch thread (tests run on a small cooperative pool).
    public static func run(program: String, _ args: [String], stdinPath: String = "/dev/null") throws -> Result {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-cli-\(UUID().uuidString)").path
        let (outPath, errPath) = (base + ".out", base + ".err")
        defer { unlink(outPath); unlink(errPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([program] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .ENOEXEC) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        func text(_ path: String) -> String {
            String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data(), as: UTF8.self)
        }
        return Result(status: code, stdout: text(outPath), stderr: text(errPath))
    }

    /// A running `emalog` with its pipes.
    public struct Running {
        public let process: Process
        public let stdout: Pipe
        public let stderr: Pipe
    }

    /// Foundation's Process.run is not safe to call from several threads at once on Linux (tests
    /// run in parallel): launches are serialized.
    private static let launch = Mutex(())

    /// Runs `process.run()` under the launch lock.
    public static func serializedLaunch(_ process: Process) throws {
        try launch.withLock { _ in try process.run() }
    }

    /// Starts `emalog args...` without waiting.
    public static func start(_ args: [String]) throws -> Running {
        try start(program: binary, args)
    }

    /// Starts `program args...` without waiting.
    public static func start(program: String, _ args: [String], stdin: FileHandle? = nil) throws -> Running {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = args
        if let stdin { process.standardInput = stdin }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try launch.withLock { _ in try process.run() }
        return Running(process: process, stdout: out, stderr: err)
    }
}
