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
        let status = ExitStatus(for: error).rawValue
        printError("error: \(message(for: error))", exitCode: status)
        throw ExitCode(status)
    }
}

/// Prints `emalog: <message>` to stderr (a JSON line with `--error-format json`: `ErrorOutput`).
func printError(_ message: String, exitCode: Int32? = nil) {
    FileHandle.standardError.write(Data(ErrorOutput.line(message, exitCode: exitCode).utf8))
}

/// Progress on stderr when it is a terminal; silent when piped.
///
/// Sendable as it is: the time of the last drawing is behind a mutex and whether a line is drawn
/// (shared by every observer, so `clear()` can erase it) is atomic.
final class TerminalProgress: ProgressObserver {
    private let lastDraw = Mutex(Date.distantPast)
    /// Progress is drawn only on a terminal, and never among JSON lines (`--error-format json`).
    static let isTerminal = isatty(2) == 1 && !ErrorOutput.isJSON
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

    /// Says that a log is one rank's of a sharded training (its slices, not the model).
    func warnIfOneRank(_ log: EMALog) {
        guard let of = log.rankReadAlone() else { return }
        warning("\(log.path) is rank \(of.rank) of \(of.ranks) of a sharded training: it holds that rank's slices only; "
            + "--db with its folder reads the whole model")
    }

    func notIngested(_ error: any Error) {
        warning("not ingested: \(message(for: error))")
    }

    static func clear() {
        guard isTerminal, drawn.exchange(false, ordering: .relaxed) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Text bound for a person's terminal: control characters (C0 but newline and tab, DEL, C1) and
/// bidirectional overrides that came from a log, a server or an input file are shown as `\u{1B}`
/// escapes, never sent as they are (they could move the cursor, clear the screen, retitle the
/// window or reorder what is shown). Data formats (CSV, JSON) escape for themselves.
enum TerminalText {
    static func visible(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isHidden) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if isHidden(scalar) {
                out.append(contentsOf: "\\u{\(String(scalar.value, radix: 16, uppercase: true))}".unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    private static func isHidden(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A, 0x09: false
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}

/// Writes text meant to be read (not data) to stdout, its control characters made visible.
func writeText(_ text: String) {
    FileHandle.standardOutput.write(Data(TerminalText.visible(text).utf8))
}
