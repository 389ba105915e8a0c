import ArgumentParser
import EMALogCore
import Foundation

extension EMALogCommand {
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a log: SQLite integrity, every chunk's checksum, every snapshot against a fresh replay.",
            discussion: """
                Exits 0 when clean, 1 when something does not match (each problem is listed).

                Example:
                  emalog audit --db run.emalog
                """)

        @OptionGroup var log: LogOptions

        func run() throws {
            try reportingErrors {
                let report = try EMALog(openingAt: log.db, auditing: true).audit(observer: TerminalProgress())
                TerminalProgress.clear()
                var text = "audit: \(report.stepsChecked) steps, \(report.chunksVerified) chunks verified, "
                    + "\(report.snapshotsChecked) snapshots of \(report.tracksChecked) tracks re-derived: "
                text += report.isClean ? "clean\n" : "\(report.problems.count) problem(s)\n"
                for problem in report.problems { text += "  \(problem)\n" }
                FileHandle.standardOutput.write(Data(text.utf8))
                if !report.isClean { throw ExitCode(ExitStatus.auditMismatch.rawValue) }
            }
        }
    }
}
