import Foundation

/// The logical content of a log as text (`sqlite3 .dump` after a checkpoint), to prove a refused
/// or repeated ingest changed nothing.
public enum LogDump {
    public static func dump(_ path: String) throws -> String {
        _ = try run("/usr/bin/sqlite3", [path, "PRAGMA wal_checkpoint(TRUNCATE);"])
        return try run("/usr/bin/sqlite3", [path, ".dump"])
    }

    /// Runs a program; returns its stdout.
    public static func run(_ program: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try CLI.serializedLaunch(process)
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}
