import ArgumentParser
import EMALogCore
import Foundation
import Synchronization

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
///
/// Sendable as it is: the time of the last drawing is behind a mutex and whether a line is drawn
/// (shared by every observer, so `clear()` can erase it) is atomic.
final class TerminalProgress: ProgressObserver {
    private let lastDraw = Mutex(Date.distantPast)
    static let isTerminal = isatty(2) == 1
    private static let drawn = Atomic(false)

    func progress(_ label: String, done: Int, total: Int) {
        guard Self.isTerminal else { return }
        let due = lastDraw.withLock { last in
            guard Date().timeIntervalSince(last) > 0.1 else { return false }
            last = Date()
            return true
        }
        guard due else { return }
        let text = total > 0 ? "\(label) \(done)/\(total)" : "\(label) \(done)"
        FileHandle.standardError.write(Data("\r\u{1B}[K\(text)".utf8))
        Self.drawn.store(true, ordering: .relaxed)
    }

    func warning(_ message: String) {
        Self.clear()
        printError("warning: \(message)")
    }

    func notIngested(_ error: any Error) {
        warning("not ingested: \(message(for: error))")
    }

    static func clear() {
        guard isTerminal, drawn.exchange(false, ordering: .relaxed) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
