import ArgumentParser
import EMALogCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Runs a command body; any error is printed to stderr as `emalog: error: ...` in the CLI's wording
/// (`message(for:)`) and becomes its exit code (`ExitStatus(for:)`).
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as ValidationError {
        throw error
    } catch {
        TerminalProgress.clear()
        printError("error: \(message(for: error))")
        throw ExitCode(ExitStatus(for: error).rawValue)
    }
}

/// Prints `emalog: <message>` to stderr.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("emalog: \(message)\n".utf8))
}

/// Progress on stderr when it is a terminal; silent when piped.
final class TerminalProgress: ProgressObserver, @unchecked Sendable {
    // Mutable state is touched only from the thread running the command.
    private var lastDraw = Date.distantPast
    static let isTerminal = isatty(2) == 1
    nonisolated(unsafe) private static var drawn = false

    func progress(_ label: String, done: Int, total: Int) {
        guard Self.isTerminal, Date().timeIntervalSince(lastDraw) > 0.1 else { return }
        lastDraw = Date()
        let text = total > 0 ? "\(label) \(done)/\(total)" : "\(label) \(done)"
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        Self.drawn = true
    }

    func warning(_ message: String) {
        Self.clear()
        printError("warning: \(message)")
    }

    func notIngested(_ error: any Error) {
        warning("not ingested: \(message(for: error))")
    }

    static func clear() {
        guard isTerminal, drawn else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        drawn = false
    }
}
