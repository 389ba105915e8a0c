import Foundation
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
        let process = try start(program: binary, args, stdin: FileHandle(forReadingAtPath: path))
        let out = process.stdout.fileHandleForReading.readDataToEndOfFile()
        let err = process.stderr.fileHandleForReading.readDataToEndOfFile()
        process.process.waitUntilExit()
        return Result(status: process.process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
    }

    /// Runs any program to completion (e.g. `setpriv ... emalog`); returns its status and output.
    public static func run(program: String, _ args: [String]) throws -> Result {
        let process = try start(program: program, args)
        let out = process.stdout.fileHandleForReading.readDataToEndOfFile()
        let err = process.stderr.fileHandleForReading.readDataToEndOfFile()
        process.process.waitUntilExit()
        return Result(status: process.process.terminationStatus, stdout: String(decoding: out, as: UTF8.self),
                      stderr: String(decoding: err, as: UTF8.self))
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
