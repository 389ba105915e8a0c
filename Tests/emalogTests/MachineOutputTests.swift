import EMALogFormats
import EMALogTestSupport
import Foundation
import Testing

/// What programs read from emalog: errors, warnings and notes as JSON lines on stderr with
/// `--error-format json` (any command, usage errors too), and push/pull reports as JSON objects.
@Suite struct MachineOutputTests {
    /// Each stderr line parsed as a JSON object: (its one key, its members).
    func lines(_ stderr: String) throws -> [(kind: String, members: [String: JSONValue])] {
        try stderr.split(separator: "\n").map { line in
            guard case let .object(outer) = try JSONParser.parse(Array(line.utf8)), outer.count == 1,
                  case let .object(inner) = outer[0].value else {
                Issue.record("not one JSON object of one object: \(line)")
                return ("", [:])
            }
            return (outer[0].key, Dictionary(inner.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }))
        }
    }

    @Test func errorsAreJSONLinesWithTheirExitCodeAndKind() async throws {
        let dir = TemporaryDirectory()
        let missing = try await CLI.run(["info", "--db", dir.file("none.emalog"), "--error-format", "json"])
        #expect(missing.status == 66 && missing.stdout.isEmpty)
        let parsed = try lines(missing.stderr)
        #expect(parsed.count == 1 && parsed.first?.kind == "error", "\(missing.stderr)")
        #expect(parsed.first?.members["exit_code"] == .number(JSONNumber(text: "66", isIntegerLiteral: true)))
        #expect(parsed.first?.members["kind"] == .string("not_found"))
        guard case let .string(message)? = parsed.first?.members["message"] else { Issue.record("no message"); return }
        #expect(message.hasPrefix("no log at ") && message.contains("none.emalog"))

        // Before the command, and for a usage error the parser finds.
        let usage = try await CLI.run(["--error-format=json", "shadow", "--db", dir.file("x"), "--step", "-3"])
        #expect(usage.status == 64)
        #expect(try lines(usage.stderr).map(\.kind) == ["error"], "\(usage.stderr)")
        #expect(try lines(usage.stderr).first?.members["kind"] == .string("usage"))

        // Text stays the default, and a wrong value is a usage error saying which ones there are.
        let text = try await CLI.run(["info", "--db", dir.file("none.emalog")])
        #expect(text.status == 66 && text.stderr.hasPrefix("emalog: error: no log at "))
        let wrong = try await CLI.run(["info", "--db", dir.file("none.emalog"), "--error-format", "yaml"])
        #expect(wrong.status == 64 && wrong.stderr.contains("--error-format takes text or json, not 'yaml'"), "\(wrong.stderr)")
    }

    @Test func anIngestsNoteAndWarningsAreJSONToo() async throws {
        let dir = TemporaryDirectory()
        let metrics = dir.file("metrics.jsonl")
        try Data("{\"step\": 1, \"loss\": 0.5, \"tag\": \"x\"}\n".utf8).write(to: URL(fileURLWithPath: metrics))
        let steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "steps") { $0.hasPrefix("step-0000000") }
        let r = try await CLI.run(["ingest", "--db", dir.file("a.emalog"), "--error-format=json", steps, metrics])
        #expect(r.status == 0, "\(r.stderr)")
        let parsed = try lines(r.stderr)
        #expect(parsed.contains { $0.kind == "note" }, "\(r.stderr)")
        #expect(parsed.allSatisfy { ["note", "warning"].contains($0.kind) && $0.members["message"] != nil }, "\(r.stderr)")
    }

    @Test(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1"))
    func pushAndPullReportAsJSON() async throws {
        let dir = TemporaryDirectory()
        let log = dir.file("run.emalog")
        let steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "steps") { _ in true }
        #expect(try await CLI.run(["ingest", "--db", log, "--ema", "0.9", steps]).status == 0)
        let db = try await ThrowawayPostgres.database()
        func object(_ text: String) throws -> [String: JSONValue] {
            guard case let .object(members) = try JSONParser.parse(Array(text.utf8)) else { return [:] }
            return Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        }
        let first = try await CLI.run(["push", "--db", log, "--to", db, "--run", "r", "--format", "json"])
        #expect(first.status == 0, "\(first.stderr)")
        let pushed = try object(first.stdout)
        #expect(pushed["run"] == .string("r") && pushed["steps"] == .number(JSONNumber(text: "24", isIntegerLiteral: true)), "\(first.stdout)")
        #expect(pushed["up_to_date"] == .bool(false))
        let again = try object(try await CLI.run(["push", "--db", log, "--to", db, "--run", "r", "--format", "json"]).stdout)
        #expect(again["up_to_date"] == .bool(true) && again["steps"] == .number(JSONNumber(text: "0", isIntegerLiteral: true)))
        let pull = try await CLI.run(["pull", "--db", db, "--run", "r", "-o", dir.file("copy.emalog"), "--format", "json"])
        #expect(pull.status == 0, "\(pull.stderr)")
        let pulled = try object(pull.stdout)
        #expect(pulled["steps"] == .number(JSONNumber(text: "24", isIntegerLiteral: true)) && pulled["snapshots"] != nil, "\(pull.stdout)")
    }
}
