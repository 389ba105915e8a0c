import ArgumentParser
import EMALogCore
import EMALogFormats
import Foundation

extension EMALogCommand {
    struct MetricsCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "metrics",
            abstract: "Print metrics: a table on a terminal, CSV when piped, or JSON lines.",
            usage: """
                emalog metrics --db <log> [--key <key> ...] [--from <step>] [--to <step>]
                               [--format <format>]
                emalog metrics --db postgresql://... --run <name> [--run <name> ...] ...
                """,
            discussion: """
                CSV is wide: step,<key>,<key>...; an empty cell where a step lacks a key. Values are printed \
                with enough digits to read back exactly. JSON lines hold one object per step. With \
                several --run (a team store), the runs are side by side: one column RUN:KEY per run and key, \
                every step any of them has.

                Examples:
                  emalog metrics --db run.emalog --key loss --format csv > loss.csv
                  emalog metrics --db run.emalog --key loss --key lr --from 1000 --to 2000
                  emalog metrics --db run.emalog --format json | jq .loss
                  emalog metrics --db postgresql://me@db/runs --run a --run b --key loss
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable { case table, csv, json }

        @Option(name: .long, help: ArgumentHelp(
            "The log file (SQLite), or a team store postgresql://USER@HOST:PORT/DATABASE with --run.", valueName: "log"))
        var db: String

        @Option(name: .customLong("run"), help: ArgumentHelp("A run of the team store (repeatable: runs side by side).", valueName: "name"))
        var runs: [String] = []

        @Option(help: ArgumentHelp("A metric key (repeatable; default: every key in name order).", valueName: "key"))
        var key: [String] = []

        @Option(help: ArgumentHelp("First step (inclusive).", valueName: "step")) var from: Int?
        @Option(help: ArgumentHelp("Last step (inclusive).", valueName: "step")) var to: Int?

        @Option(help: ArgumentHelp("Output format (default: table on a terminal, csv when piped).", valueName: "format"))
        var format: Format?

        func validate() throws {
            if let from, from < 0 { throw ValidationError("--from must be a step >= 0, got \(from)") }
            if let to, to < 0 { throw ValidationError("--to must be a step >= 0, got \(to)") }
            if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to)") }
            if !runs.isEmpty && !TeamStore.isServer(db) {
                throw ValidationError("--run names a run of a team store (--db postgresql://...); --db \(db) is a log file, one run")
            }
            if let twice = runs.first(where: { name in runs.filter { $0 == name }.count > 1 }) {
                throw ValidationError("--run \(twice) is given twice: give each run once")
            }
        }

        func run() throws {
            try reportingErrors {
                let table = runs.count > 1
                    ? try EMALog.metrics(comparing: runs.map { ($0, try EMALog(openingAt: db, run: $0)) }, keys: key, from: from, to: to)
                    : try EMALog(openingAt: db, run: runs.first).metrics(keys: key, from: from, to: to)
                let chosen = format ?? (isatty(1) == 1 ? .table : .csv)
                var out = ""
                switch chosen {
                case .csv: out = MetricsRendering.csv(table)
                case .json: out = MetricsRendering.jsonLines(table)
                case .table: out = TerminalText.visible(MetricsRendering.table(table))
                }
                FileHandle.standardOutput.write(Data(out.utf8))
            }
        }
    }
}

/// Text forms of a metrics table.
enum MetricsRendering {
    static func number(_ v: Double) -> String { MetricsTable.number(v) }

    static func csv(_ t: MetricsTable) -> String { t.csv }

    static func jsonLines(_ t: MetricsTable) -> String {
        var out = ""
        for row in t.rows {
            var json = JSONWriter()
            json.object { json in
                json.field("step", row.step)
                for (key, value) in zip(t.keys, row.values) {
                    if let value { json.field(key, value) }
                }
            }
            out += json.text + "\n"
        }
        return out
    }

    static func table(_ t: MetricsTable) -> String {
        let header = ["step"] + t.keys
        let cells = t.rows.map { [String($0.step)] + $0.values.map { $0.map(number) ?? "" } }
        return columns(header, cells, alignRight: true)
    }

    /// `rows` under `header` in aligned columns (right-aligned for numbers, else left).
    static func columns(_ header: [String], _ rows: [[String]], alignRight: Bool = false) -> String {
        let widths = header.indices.map { i in max(header[i].count, rows.map { $0[i].count }.max() ?? 0) }
        func line(_ fields: [String]) -> String {
            let padded = zip(fields, widths).map { field, width in
                let pad = String(repeating: " ", count: width - field.count)
                return alignRight ? pad + field : field + pad
            }
            var text = padded.joined(separator: "  ")
            while !alignRight && text.hasSuffix(" ") { text.removeLast() }
            return text + "\n"
        }
        return line(header) + rows.map(line).joined()
    }
}
