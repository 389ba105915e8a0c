import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL server the tests start themselves (`scripts/postgres-throwaway.sh`: initdb in a
/// temporary folder, a free loopback port), once per test process, stopped when it exits. The
/// tests never need a server that is already running; `EMALOG_NO_POSTGRES=1` skips them.
public enum ThrowawayPostgres {
    /// Whether the tests that need a server run (false only with `EMALOG_NO_POSTGRES=1`).
    public static let enabled = ProcessInfo.processInfo.environment["EMALOG_NO_POSTGRES"] != "1"

    private static let state = Mutex<(url: String?, folder: String?, databases: Int)>((nil, nil, 0))

    static var root: String { Fixtures.packageRoot }

    /// The server's address, started on first use; throws with the script's message when it cannot start.
    public static func server() throws -> String {
        try state.withLock { state in
            if let url = state.url { return url }
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-pg-\(getpid())").path
            let result = spawn(root + "/scripts/postgres-throwaway.sh", ["start", folder])
            guard result.status == 0, let url = result.output.split(separator: "\n").last.map(String.init) else {
                throw StartFailure(description: "the throwaway PostgreSQL did not start (\(result.status)): \(result.output)"
                    + " (install Debian's postgresql, or set EMALOG_NO_POSTGRES=1 to skip these tests)")
            }
            state = (url, folder, 0)
            stopFolder = folder
            atexit { ThrowawayPostgres.stop() }
            return url
        }
    }

    /// A new empty database on the server, for one test: `postgresql://.../<name>`.
    public static func database() throws -> String {
        let url = try server()
        let name = state.withLock { state -> String in
            state.databases += 1
            return "t\(getpid())_\(state.databases)"
        }
        let base = String(url[..<url.lastIndex(of: "/")!])
        let result = sql(url, "CREATE DATABASE \(name)")
        guard result.status == 0 else { throw StartFailure(description: "cannot create a database: \(result.output)") }
        return base + "/" + name
    }

    /// Runs `statement` with psql against `database`; returns its status and output.
    public static func sql(_ database: String, _ statement: String) -> (status: Int32, output: String) {
        spawn("/usr/bin/psql", [database, "-q", "-v", "ON_ERROR_STOP=1", "-c", statement])
    }

    nonisolated(unsafe) private static var stopFolder: String?

    static func stop() {
        guard let folder = stopFolder else { return }
        _ = spawn(root + "/scripts/postgres-throwaway.sh", ["stop", folder])
    }

    /// Runs `program` to completion with posix_spawn and waitpid, its stdout and stderr in a
    /// temporary file. Not Foundation's Process: its waitUntilExit needs a dispatch thread, and
    /// tests blocked on the server (one starting it, the others waiting) can hold them all.
    static func spawn(_ program: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-spawn-\(UUID().uuidString)").path
        defer { unlink(log) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([program] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, program, &actions, nil, argv, environ) == 0 else { return (127, "cannot run \(program)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        let exited = status & 0x7F == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (exited, output)
    }

    public struct StartFailure: Error, CustomStringConvertible {
        public var description: String
    }
}
