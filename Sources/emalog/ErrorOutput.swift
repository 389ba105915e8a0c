import ArgumentParser
import EMALogFormats
import Foundation

/// How emalog writes what goes to stderr: text (`emalog: error: ...`) or, with `--error-format json`
/// anywhere on the command line, one JSON object per line, for programs that drive emalog:
/// `{"error":{"message":...,"exit_code":66,"kind":"not_found"}}`, `{"warning":{"message":...}}`,
/// `{"note":{"message":...}}` (an ingest's summary). The option is taken out before the command
/// line is parsed, so every command has it, and usage errors are JSON too.
enum ErrorOutput {
    /// Whether this process writes JSON: fixed by its command line, read once.
    static let isJSON = split(CommandLine.arguments.dropFirst()).json ?? false

    /// The arguments without `--error-format`, the format it asked for (nil when absent), and a
    /// value it was given other than text or json.
    static func split(_ arguments: some Sequence<String>) -> (arguments: [String], json: Bool?, invalid: String?) {
        var kept: [String] = [], json: Bool?, invalid: String?
        var iterator = Array(arguments).makeIterator()
        while let argument = iterator.next() {
            if argument == "--" {  // what follows is operands
                kept.append(argument)
                while let rest = iterator.next() { kept.append(rest) }
                break
            }
            var value: String?
            if argument.hasPrefix("--error-format=") {
                value = String(argument.dropFirst("--error-format=".count))
            } else if argument == "--error-format" {
                value = iterator.next() ?? ""
            }
            guard let value else {
                kept.append(argument)
                continue
            }
            if value == "text" || value == "json" { json = value == "json" } else { invalid = value }
        }
        return (kept, json, invalid)
    }

    struct Error: Encodable {
        var message: String
        var exitCode: Int32
        var kind: String

        enum CodingKeys: String, CodingKey {
            case message
            case exitCode = "exit_code"
            case kind
        }
    }

    struct Message: Encodable { var message: String }

    /// One line for stderr: `text` as `emalog: text`, or as JSON; `text` starting with "error: "
    /// or "warning: " is that kind of line (an error's `exitCode` is its command's exit status).
    static func line(_ text: String, exitCode: Int32? = nil) -> String {
        guard isJSON else { return "emalog: \(TerminalText.visible(text))\n" }
        let (key, value): (String, any Encodable) = if text.hasPrefix("error: ") {
            ("error", Error(message: String(text.dropFirst(7)), exitCode: exitCode ?? 70,
                            kind: (ExitStatus(rawValue: exitCode ?? 70) ?? .software).kind))
        } else if text.hasPrefix("warning: ") {
            ("warning", Message(message: String(text.dropFirst(9))))
        } else {
            ("note", Message(message: text))
        }
        return "{\(JSONWriter.quoted(key)):\((try? JSONEncoding.text(value)) ?? "null")}\n"
    }
}
