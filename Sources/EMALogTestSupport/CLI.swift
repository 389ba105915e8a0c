public import Foundation
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

    /// Runs `emalog args...` to completion, waiting off the cooperative pool (see `Spawn.exitStatus`).
    @discardableResult
    public static func run(_ args: [String]) async throws -> Result {
        try await run(program: binary, args)
    }

    /// Runs `emalog args...` to completion with `input` on its stdin (written to a file first, so a
    /// large input never blocks on a full pipe).
    public static func run(_ args: [String], stdin input: Data) async throws -> Result {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-stdin-\(UUID().uuidString)").path
        try input.write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await run(program: binary, args, stdinPath: path)
    }

    /// Runs any program to completion (e.g. `setpriv ... emalog`); returns its status and output.
    public static func run(program: String, _ args: [String], stdinPath: String = "/dev/null") throws -> Result {
        let running = try start(program: program, args, stdinPath: stdinPath)
        return running.result(status: Spawn.wait(running.pid))
    }

    /// `run(program:)` waiting off the cooperative pool.
    public static func run(program: String, _ args: [String], stdinPath: String = "/dev/null") async throws -> Result {
        await Spawn.slots.acquire()
        defer { Spawn.slots.release() }
        let running = try start(program: program, args, stdinPath: stdinPath)
        return running.result(status: await Spawn.exitStatus(of: running.pid))
    }

    /// A program started by `start`: its pid, and its stdout and stderr each in a file of its own,
    /// so a child writing much to both never blocks on a pipe nobody reads.
    public final class Running: Sendable {
        public let pid: pid_t
        let outPath: String
        let errPath: String
        private let reaped = Mutex<Int32?>(nil)

        init(pid: pid_t, outPath: String, errPath: String) {
            self.pid = pid
            self.outPath = outPath
            self.errPath = errPath
        }

        deinit {
            unlink(outPath)
            unlink(errPath)
        }

        /// Whether it still runs. It only looks (waitid with WNOWAIT): `wait` alone reaps, so no
        /// two waits race for one child and no look can reap another child that reused the pid.
        public var isRunning: Bool {
            if reaped.withLock({ $0 }) != nil { return false }
            var info = siginfo_t()
            guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return false }
            return info.si_signo == 0
        }

        /// Waits for it to end, off the cooperative pool; its status and output (call it once).
        public func wait() async -> Result {
            if let status = reaped.withLock({ $0 }) { return result(status: status) }
            let status = await Spawn.exitStatus(of: pid)
            reaped.withLock { $0 = status }
            return result(status: status)
        }

        /// Its stdout's bytes as they are (binary outputs).
        public var stdoutBytes: Data { (try? Data(contentsOf: URL(fileURLWithPath: outPath))) ?? Data() }

        /// What it wrote so far on stdout and stderr.
        public var output: (stdout: String, stderr: String) { (Self.text(outPath), Self.text(errPath)) }

        func result(status: Int32) -> Result {
            Result(status: status, stdout: Self.text(outPath), stderr: Self.text(errPath))
        }

        static func text(_ path: String) -> String {
            String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data(), as: UTF8.self)
        }
    }

    /// Starts `emalog args...` without waiting.
    public static func start(_ args: [String]) throws -> Running {
        try start(program: binary, args)
    }

    /// Starts `program args...` without waiting: posix_spawn, never Foundation's Process (whose
    /// waits need dispatch threads, and whose launch is not safe from several threads at once).
    /// `stdout`: a descriptor the program writes its stdout to instead of a file of the test's.
    public static func start(program: String, _ args: [String], stdinPath: String = "/dev/null",
                             stdout: Int32? = nil) throws -> Running {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-cli-\(UUID().uuidString)").path
        let (outPath, errPath) = (base + ".out", base + ".err")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        if let stdout {
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv = ([program] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .ENOEXEC) }
        return Running(pid: pid, outPath: outPath, errPath: errPath)
    }
}
