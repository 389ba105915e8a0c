import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Help and messages (issue 9.8): help that reads at 80 columns with examples one could paste, and
/// messages that say what happened.
@Suite struct HelpTests {
    static let commands = [[], ["ingest"], ["shadow"], ["raw"], ["sweep"], ["metrics"], ["info"], ["audit"], ["push"], ["pull"], ["runs"]]

    /// `emalog <command> --help` at `columns` columns.
    func help(_ command: [String], columns: Int) async throws -> String {
        let r = try await CLI.run(program: "/usr/bin/env", ["-i", "COLUMNS=\(columns)", "PATH=/usr/bin:/bin", CLI.binary] + command + ["--help"])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    @Test(arguments: commands)
    func helpFitsItsColumnsAndExamplesStayWhole(command: [String]) async throws {
        for columns in [80, 120] {
            let text = try await help(command, columns: columns)
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            for line in lines { #expect(line.count <= columns, "\(command) at \(columns): \(line)") }
            // Examples: after a blank line, one whole command per line, up to the next blank line.
            guard let start = lines.firstIndex(where: { $0 == "Examples:" || $0 == "Example:" }) else {
                Issue.record("\(command): no examples"); continue
            }
            #expect(lines[start - 1].isEmpty, "\(command): no blank line before \(lines[start])")
            let examples = lines[(start + 1)...].prefix { !$0.isEmpty }
            #expect(!examples.isEmpty)
            for example in examples { #expect(example.hasPrefix("  emalog "), "\(command): broken example line '\(example)'") }
            let usage = lines.first { $0.hasPrefix("USAGE: ") }!
            #expect(usage.count <= 80, "\(usage)")
        }
    }

    @Test func formatValuesAreListedOnce() async throws {
        for command in [["shadow"], ["raw"], ["sweep"], ["metrics"]] {
            let text = try await help(command, columns: 200)
            let format = text.split(separator: "\n").first { $0.hasPrefix("  --format <format>") }!
            #expect(format.components(separatedBy: "json").count == 2, "\(format)")
            #expect(format.contains("(values: "), "\(format)")
        }
    }

    @Test func rootHelpIsParagraphs() async throws {
        let text = try await help([], columns: 80)
        #expect(text.contains("Ingest each step's safetensors and metrics into one SQLite log, keep EMA shadow\nweights incrementally"))
        #expect(text.contains("--generate-completion-script"))
    }

    @Test func clashingEMAFlagsOfANewLogAreAUsageError() async throws {
        let dir = TemporaryDirectory()
        let r = try await CLI.run(["ingest", "--db", dir.file("run.emalog"), "--ema", "0.9", "--ema", "name=ema-0.9,decay=0.9,form=lerp",
                             Fixtures.path("mlp-f32/steps")])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--ema 0.9 and --ema name=ema-0.9,decay=0.9,form=lerp clash: both name track 'ema-0.9' "
            + "but give different profiles"), "\(r.stderr)")
        #expect(!r.stderr.contains("is stored as"))
        #expect(!FileManager.default.fileExists(atPath: dir.file("run.emalog")))
        // The same profile twice is not a clash.
        let same = try await CLI.run(["ingest", "--db", dir.file("run.emalog"), "--ema", "0.9", "--ema", "name=ema-0.9,decay=0.9",
                                Fixtures.path("mlp-f32/steps")])
        #expect(same.status == 0, "\(same.stderr)")
    }

    @Test func negativeStepRangesAreRefusedNamingTheFlag() async throws {
        for (flag, value) in [("--from", "-1"), ("--to", "-5")] {
            let r = try await CLI.run(["metrics", "--db", "run.emalog", "\(flag)=\(value)"])
            #expect(r.status == 64)
            #expect(r.stderr.contains("\(flag) must be a step >= 0, got \(value)"), "\(r.stderr)")
        }
    }

    @Test func aStepNumberTooLargeForAnIntSaysSo() async throws {
        let dir = TemporaryDirectory()
        let name = "step-999999999999999999999999.safetensors"
        var b = SafetensorsBuilder()
        b.add("w", shape: [2], floats: [1, 2])
        try b.write(to: dir.file(name))
        let r = try await CLI.run(["ingest", "--db", dir.file("run.emalog"), dir.file(name)])
        #expect(r.status == 65)
        #expect(r.stderr.contains("the step number 999999999999999999999999 in the name '\(name)' is too large"), "\(r.stderr)")
        #expect(!r.stderr.contains("no digits in its name"))
    }
}
