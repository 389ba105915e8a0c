import ArgumentParser
import EMALogCore
import EMALogFormats
import Foundation

extension EMALogCommand {
    struct AuditCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Check a log: SQLite integrity, schema, audit trail, every chunk, every snapshot, metrics, sources.",
            usage: """
                emalog audit --db <log> [--sources <dir>] [--format <format>]
                emalog audit --db postgresql://... --run <name> [--format <format>]
                """,
            discussion: """
                Exits 0 when clean, 1 when something does not match (each finding is listed).
                --sources DIR re-hashes each step's source file, found by its recorded file name in DIR.

                Examples:
                  emalog audit --db run.emalog
                  emalog audit --db run.emalog --sources steps/ --format json
                """)

        enum Format: String, ExpressibleByArgument, CaseIterable { case text, json }

        @OptionGroup var log: LogOptions
        @Option(help: ArgumentHelp("A folder holding the steps' source files, checked by name against their recorded size and XXH64.",
                                   valueName: "dir"))
        var sources: String?
        @Option(help: "Output: text or json (one object).") var format: Format = .text

        func validate() throws {
            if let sources {
                var folder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: sources, isDirectory: &folder), folder.boolValue else {
                    throw ValidationError("--sources must be a folder, got '\(sources)'")
                }
            }
        }

        func run() throws {
            try reportingErrors {
                let report = try EMALog(openingAt: log.db, run: log.run, auditing: true).audit(sources: sources, observer: TerminalProgress())
                TerminalProgress.clear()
                if format == .json { FileHandle.standardOutput.write(Data(Self.json(report).utf8)) } else { writeText(Self.text(report)) }
                if !report.isClean { throw ExitCode(ExitStatus.auditMismatch.rawValue) }
            }
        }

        static func text(_ report: AuditReport) -> String {
            var text = (report.ranks.map { "audit of \($0) ranks: " } ?? "audit: ")
                + "\(report.stepsChecked) steps, \(report.chunksVerified) chunks verified, "
                + "\(report.snapshotsChecked) snapshots of \(report.tracksChecked) tracks re-derived"
                + (report.sourcesChecked > 0 ? ", \(report.sourcesChecked) source files re-hashed: " : ": ")
            text += report.isClean ? "clean\n" : "\(report.findings.count) problem(s)\n"
            for finding in report.findings { text += "  \(finding.kind.rawValue): \(finding.detail)\n" }
            if report.stepsWithoutRaw > 0 {
                text += "  info: \(report.stepsWithoutRaw) step(s) without raw weights (the log's retention policy)\n"
            }
            for note in report.information { text += "  info: \(note)\n" }
            return text
        }

        static func json(_ report: AuditReport) -> String {
            var json = JSONWriter()
            json.object { json in
                json.field("verdict", report.isClean ? "clean" : "findings")
                json.array("findings") { json in
                    for f in report.findings {
                        json.object { json in
                            json.field("kind", f.kind.rawValue)
                            json.field("step", f.step)
                            json.key("tensor"); if let t = f.tensor { json.value(t) } else { json.value(nil as Int?) }
                            json.field("chunk", f.chunk)
                            json.key("file"); if let file = f.file { json.value(file) } else { json.value(nil as Int?) }
                            json.field("detail", f.detail)
                        }
                    }
                }
                json.field("information", report.information)
                json.object("summary") { json in
                    if let ranks = report.ranks { json.field("ranks", ranks) }
                    json.field("steps", report.stepsChecked)
                    json.field("chunks", report.chunksVerified)
                    json.field("snapshots", report.snapshotsChecked)
                    json.field("tracks", report.tracksChecked)
                    json.field("ingests", report.ingestsChecked)
                    json.field("sources", report.sourcesChecked)
                    json.field("steps_without_raw", report.stepsWithoutRaw)
                    json.field("findings", report.findings.count)
                    json.field("seconds", report.seconds)
                }
            }
            return json.text + "\n"
        }
    }
}
