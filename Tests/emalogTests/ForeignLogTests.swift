import EMALogTestSupport
import Foundation
import Testing

/// A log from elsewhere is data, never code, and never believed blindly: planted schema objects are
/// refused before anything runs (74, naming the object) and reported by `audit` (exit 1); values
/// edited by hand are 74 for every reader and a named finding for `audit`, never a crash.
@Suite struct ForeignLogTests {
    let dir = TemporaryDirectory()
    let steps = Fixtures.path("mlp-f32/steps")
    let metrics = Fixtures.path("mlp-f32/metrics.jsonl")

    /// A clean log with a track, metrics and a snapshot, checkpointed so `sqlite3` edits the file.
    func makeLog(_ name: String) async throws -> String {
        let db = dir.file(name)
        let r = try await CLI.run(["ingest", "--db", db, "--ema", "0.9", "--snapshot-every", "10", steps, metrics])
        #expect(r.status == 0, "\(r.stderr)")
        return db
    }

    func sql(_ db: String, _ statements: String) async throws {
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, "PRAGMA foreign_keys=OFF; \(statements); PRAGMA wal_checkpoint(TRUNCATE);"])
    }

    func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    /// Every reader, and an ingest, on `db`.
    func commands(_ db: String) -> [[String]] {
        [["info", "--db", db], ["info", "--db", db, "--json"], ["metrics", "--db", db], ["metrics", "--db", db, "--key", "loss"],
         ["raw", "--db", db, "-o", dir.file("out.safetensors")], ["shadow", "--db", db, "-o", dir.file("out.safetensors")],
         ["shadow", "--db", db, "--decay", "0.5", "--step", "12", "-o", dir.file("out.safetensors")],
         ["sweep", "--db", db, "--decays", "0.5,0.7", "-o", dir.file("sweep")], ["ingest", "--db", db, steps, metrics]]
    }

    @Test func aPlantedTriggerNeverFiresAndTheLogIsRefused() async throws {
        let db = try await makeLog("trigger.emalog")
        // A trigger that would record that it ran, and one calling a function GRDB registers.
        try await sql(db, """
            CREATE TABLE fired (n INTEGER);
            CREATE TRIGGER t1 AFTER INSERT ON metrics BEGIN INSERT INTO fired VALUES (1); END;
            CREATE TRIGGER t2 BEFORE INSERT ON steps BEGIN SELECT swiftLowercaseString('X'); END
            """)
        let extra = dir.file("late.jsonl")
        try Data("{\"step\": 999, \"late\": 1.5}\n".utf8).write(to: URL(fileURLWithPath: extra))
        let before = try bytes(db)
        for args in commands(db) + [["ingest", "--db", db, extra]] {
            let r = try await CLI.run(args)
            #expect(r.status == 74, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stderr.contains("trigger 't1' on 'metrics' was not created by emalog"), "\(args): \(r.stderr)")
        }
        #expect(try bytes(db) == before, "the log changed")
        for suffix in ["-wal", "-shm"] { #expect(!FileManager.default.fileExists(atPath: db + suffix), "a refusal left \(suffix)") }
        #expect(try await LogDump.run("/usr/bin/sqlite3", [db, "SELECT count(*) FROM fired"]) == "0\n")
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 1, "\(audit.stdout) \(audit.stderr)")
        for object in ["trigger 't1' on 'metrics'", "trigger 't2' on 'steps'", "table 'fired'"] {
            #expect(audit.stdout.contains("schema: \(object) was not created by emalog"), "\(audit.stdout)")
        }
    }

    @Test func aViewInPlaceOfATableIsRefused() async throws {
        let db = try await makeLog("view.emalog")
        try await sql(db, "ALTER TABLE metric_keys RENAME TO real_keys; CREATE VIEW metric_keys AS SELECT id, 'forged' AS name FROM real_keys")
        let r = try await CLI.run(["metrics", "--db", db])
        #expect(r.status == 74 && r.stdout.isEmpty, "\(r.stdout) \(r.stderr)")
        #expect(r.stderr.contains("view 'metric_keys' stands where emalog has table 'metric_keys'"), "\(r.stderr)")
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 1 && audit.stdout.contains("schema: view 'metric_keys'"), "\(audit.stdout)")
    }

    @Test func anAlteredTableOrAMissingIndexIsRefused() async throws {
        let altered = try await makeLog("altered.emalog")
        try await sql(altered, "ALTER TABLE steps ADD COLUMN note TEXT")
        let r = try await CLI.run(["info", "--db", altered])
        #expect(r.status == 74 && r.stderr.contains("table 'steps' is not defined as emalog defines it"), "\(r.stderr)")
        let indexed = try await makeLog("indexed.emalog")
        try await sql(indexed, "CREATE INDEX extra ON chunks (codec)")
        let s = try await CLI.run(["raw", "--db", indexed, "-o", dir.file("r.safetensors")])
        #expect(s.status == 74 && s.stderr.contains("index 'extra' on 'chunks' was not created by emalog"), "\(s.stderr)")
    }

    /// Hand edits of sizes, shapes, settings and specs: each reader says 74 with what is damaged,
    /// `audit` names it with exit 1; no trap, no abort, no allocation sized from the edit.
    @Test(arguments: [
        ("UPDATE chunks SET raw_size = 9000000000000000000 WHERE id = (SELECT max(id) FROM chunks)", "claims 9000000000000000000 bytes"),
        ("UPDATE chunks SET raw_size = 9000000000000000000 WHERE id = 1", "holds 1 chunks of 9000000000000000000 bytes"),
        ("UPDATE tensors SET shape = '[1000000000000]', element_count = 1000000000000 WHERE position = 0", "needs 476838 chunks"),
        ("UPDATE tensors SET shape = '[1000000000000]' WHERE position = 0", "but its element count says"),
        ("UPDATE tensors SET shape = '[288230376151711744]', element_count = 288230376151711744 WHERE position = 1",
         "needs 68719476736 chunks"),
        ("UPDATE tensors SET shape = '[-4]' WHERE position = 0", "invalid shape '[-4]'"),
        ("UPDATE tensors SET shape = '[1e3]' WHERE position = 0", "invalid shape '[1e3]'"),
        ("UPDATE tensors SET dtype = 'F128' WHERE position = 0", "unknown dtype 'F128'"),
        ("UPDATE log_info SET value = '0' WHERE key = 'chunk_bytes'", "chunk_bytes is '0'"),
        ("UPDATE log_info SET value = '7' WHERE key = 'chunk_bytes'", "chunk_bytes is '7'"),
        ("UPDATE log_info SET value = 'big' WHERE key = 'chunk_bytes'", "chunk_bytes is 'big'"),
        ("UPDATE tracks SET spec = 'decay=banana'", "damaged spec 'decay=banana'"),
        ("UPDATE tracks SET name = 'x,decay=0.1'", "a track is named 'x,decay=0.1'"),
        ("UPDATE chunks SET codec = 'lzma' WHERE id = (SELECT max(id) FROM chunks)", "unknown codec 'lzma'"),
        ("UPDATE chunks SET chunk_index = 7 WHERE id = (SELECT max(id) FROM chunks)", "chunk 0 is missing"),
        ("UPDATE steps SET metadata = '[1' WHERE step = 20", "its metadata is not a JSON object of strings"),
        ("UPDATE steps SET source_xxh64 = 'zz' WHERE step = 20", "its source hash 'zz' is not 16 hex digits"),
        ("UPDATE snapshots SET step = 5000000 WHERE id = (SELECT max(id) FROM snapshots)", "snapshots at step 5000000, which the log does not hold"),
        ("UPDATE steps SET step = 9007199254740992 WHERE step = 24", "outside 0...9007199254740991"),
    ])
    func handEditedValuesAreRefusedAndAudited(edit: String, expected: String) async throws {
        let db = try await makeLog("edited.emalog")
        try await sql(db, edit)
        var refused = 0
        for args in commands(db) {
            let r = try await CLI.run(args)
            #expect([0, 65, 74].contains(r.status), "\(edit): \(args): \(r.status) \(r.stderr)")
            if r.status == 74 {
                refused += 1
                #expect(r.stderr.contains("emalog: error: "), "\(args): \(r.stderr)")
            }
        }
        // A snapshot past the last step is never read by a query; every other edit is noticed.
        #expect(refused > 0 || expected.hasPrefix("snapshots at step"), "\(edit): no command noticed")
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 1, "\(edit): audit \(audit.status) \(audit.stdout) \(audit.stderr)")
        #expect(audit.stdout.contains(expected), "\(edit): \(audit.stdout)")
    }
}
