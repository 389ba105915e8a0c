import Foundation

/// The logical content of a log as text (`sqlite3 .dump` after a checkpoint), to prove a refused
/// or repeated ingest changed nothing.
public enum LogDump {
    public static func dump(_ path: String) throws -> String {
        _ = try run("/usr/bin/sqlite3", [path, "PRAGMA wal_checkpoint(TRUNCATE);"])
        return try run("/usr/bin/sqlite3", [path, ".dump"])
    }

    /// `dump`, waiting off the cooperative pool.
    public static func dump(_ path: String) async throws -> String {
        _ = try await run("/usr/bin/sqlite3", [path, "PRAGMA wal_checkpoint(TRUNCATE);"])
        return try await run("/usr/bin/sqlite3", [path, ".dump"])
    }

    /// Runs a program; returns its stdout.
    public static func run(_ program: String, _ arguments: [String]) throws -> String {
        try CLI.run(program: program, arguments).stdout
    }

    /// `run`, waiting off the cooperative pool.
    public static func run(_ program: String, _ arguments: [String]) async throws -> String {
        try await CLI.run(program: program, arguments).stdout
    }
}
