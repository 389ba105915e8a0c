import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Text from a log or an input never reaches a terminal as control sequences: names and keys
/// holding ESC, other C0/C1 controls or bidirectional overrides are shown escaped in text and table
/// outputs and in messages; data formats (CSV, JSON) keep them, escaped their own way.
@Suite struct TerminalTextTests {
    let dir = TemporaryDirectory()

    @Test func controlSequencesFromALogAreShownEscaped() async throws {
        let db = dir.file("t.emalog")
        let metrics = dir.file("m.jsonl")
        try "{\"step\": 1, \"\\u001b[2Jloss\\u202e\": 0.5}\n".write(toFile: metrics, atomically: true, encoding: .utf8)
        var b = SafetensorsBuilder(step: 1)
        b.add("w\u{1B}]0;owned\u{07}", shape: [2], floats: [1, .nan])
        let step = dir.file("step-1.safetensors")
        try b.write(to: step)
        #expect(try await CLI.run(["ingest", "--db", db, metrics]).status == 0)
        let table = try await CLI.run(["metrics", "--db", db, "--format", "table"])
        #expect(table.status == 0 && !table.stdout.contains("\u{1B}") && table.stdout.contains("\\u{1B}[2Jloss\\u{202E}"), "\(table.stdout)")
        let json = try await CLI.run(["metrics", "--db", db, "--format", "json"])
        #expect(json.stdout.contains("\\u001b[2Jloss"), "\(json.stdout)")
        let refused = try await CLI.run(["ingest", "--db", db, step])
        #expect(refused.status == 65 && !refused.stderr.contains("\u{1B}") && refused.stderr.contains("w\\u{1B}]0;owned\\u{7}"),
                "\(refused.stderr)")
        let info = try await CLI.run(["info", "--db", db])
        #expect(info.status == 0 && !info.stdout.contains("\u{1B}"))
    }

    /// A log's id is a run's default name on a team store: a hand-edited one (a control sequence,
    /// 5,000 characters) is damage that audit names, and nothing pushes or prints it.
    @Test func aHandEditedLogIDIsDamage() async throws {
        let db = dir.file("id.emalog")
        #expect(try await CLI.run(["ingest", "--db", db, Fixtures.path("mlp-f32/steps/step-00000001.safetensors")]).status == 0)
        let edit = "UPDATE log_info SET value = char(27) || '[2J' || printf('%.5000c', 'x') WHERE key = 'log_id'"
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, "\(edit); PRAGMA wal_checkpoint(TRUNCATE);"])
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 1 && audit.stdout.contains("log_id") && audit.stdout.contains("control characters")
                && !audit.stdout.contains("\u{1B}"), "\(audit.stdout)")
        let info = try await CLI.run(["info", "--db", db])
        #expect(info.status == 74 && info.stderr.contains("log_id") && !info.stderr.contains("\u{1B}"), "\(info.stderr)")
        if ThrowawayPostgres.enabled {
            let server = try await ThrowawayPostgres.database()
            let push = try await CLI.run(["push", "--db", db, "--to", server])
            #expect(push.status == 74 && push.stderr.contains("log_id"), "\(push.stderr)")
            let runs = try await CLI.run(["runs", "--db", server])
            #expect(runs.status == 0 && !runs.stdout.contains("xxxx"), "\(runs.stdout)")
        }
    }
}
