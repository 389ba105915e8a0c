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

    /// `database()` off the cooperative pool (the first starts the server, the others wait for it).
    public static func database() async throws -> String {
        try await Spawn.offPool { try database() }
    }

    /// Runs `statement` with psql against `database`; returns its status and output.
    public static func sql(_ database: String, _ statement: String) -> (status: Int32, output: String) {
        spawn("/usr/bin/psql", [database, "-q", "-v", "ON_ERROR_STOP=1", "-c", statement])
    }

    /// `sql`, waiting off the cooperative pool.
    public static func sql(_ database: String, _ statement: String) async -> (status: Int32, output: String) {
        await Spawn.run("/usr/bin/psql", [database, "-q", "-v", "ON_ERROR_STOP=1", "-c", statement])
    }

    nonisolated(unsafe) private static var stopFolder: String?

    static func stop() {
        guard let folder = stopFolder else { return }
        _ = spawn(root + "/scripts/postgres-throwaway.sh", ["stop", folder])
    }

    static func spawn(_ program: String, _ arguments: [String]) -> (status: Int32, output: String) {
        Spawn.run(program, arguments)
    }

    public struct StartFailure: Error, CustomStringConvertible {
        public var description: String
    }
}
