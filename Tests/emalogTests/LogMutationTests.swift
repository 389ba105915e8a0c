import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Makes "a damaged log crashes emalog" impossible as a class: copies of a small log are damaged at
/// random (byte flips in its pages; edits of sizes, shapes, settings and specs through sqlite3),
/// then every reader and an ingest run on each copy. Each must end with a documented exit status
/// (0, 1 for audit, 65, 74) and a message, never a trap, an abort, a signal or a hang.
///
/// `EMALOG_MUTATION_TRIALS=N` runs more trials (CI runs 24 flips and every edit); a failure prints
/// the seed and trial, and `EMALOG_MUTATION_SEED=S` replays it.
@Suite struct LogMutationTests {
    let dir = TemporaryDirectory()
    let steps: String
    let metrics = Fixtures.path("mlp-f32/metrics.jsonl")
    let pristine: Data

    init() throws {
        steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "steps") { $0 <= "step-00000012.safetensors" }
        let db = dir.file("pristine.emalog")
        let r = try CLI.run(["ingest", "--db", db, "--ema", "0.9", "--ema", "name=w,decay=0.99,schedule=warmup,form=lerp",
                             "--snapshot-every", "4", "--keyframe-every", "4", steps, metrics])
        precondition(r.status == 0, r.stderr)
        _ = try LogDump.run("/usr/bin/sqlite3", [db, "PRAGMA wal_checkpoint(TRUNCATE);"])
        pristine = try Data(contentsOf: URL(fileURLWithPath: db))
    }

    static let allowed: Set<Int32> = [0, 1, 65, 74]

    /// Runs every reader and an ingest on `db`; records any undocumented ending.
    func runEverything(on db: String, _ what: String) async throws {
        let out = dir.file("out")
        let commands: [[String]] = [
            ["audit", "--db", db], ["info", "--db", db], ["info", "--db", db, "--json"], ["metrics", "--db", db],
            ["metrics", "--db", db, "--key", "loss", "--format", "json"], ["raw", "--db", db, "-o", out + ".safetensors"],
            ["raw", "--db", db, "--step", "5", "-o", out + ".npz"], ["shadow", "--db", db, "--ema", "w", "-o", out + ".safetensors"],
            ["shadow", "--db", db, "--ema", "ema-0.9", "--step", "6", "-o", out + ".json"],
            ["shadow", "--db", db, "--decay", "0.5", "--dtype", "param", "-o", out + ".safetensors"],
            ["sweep", "--db", db, "--decays", "0.3,0.6", "-o", out + "-sweep"],
            ["ingest", "--db", db, "--ema", "0.8", steps, metrics],
        ]
        for args in commands {
            let r = try await CLI.run(args)
            let crashed = r.stderr.contains("Fatal error") || r.stderr.contains("crashed") || r.stderr.contains("Precondition")
            #expect(Self.allowed.contains(r.status) && !crashed, "\(what): \(args.joined(separator: " ")) ended with \(r.status): \(r.stderr.prefix(600))")
            if r.status == 1 { #expect(args[0] == "audit", "\(what): \(args[0]) exited 1") }
            if r.status != 0 && r.status != 1 { #expect(r.stderr.contains("emalog: error: "), "\(what): \(args[0]) said nothing: \(r.stderr)") }
        }
    }

    @Test func randomByteFlipsInThePages() async throws {
        let trials = Int(ProcessInfo.processInfo.environment["EMALOG_MUTATION_TRIALS"] ?? "") ?? 24
        let seed = UInt64(ProcessInfo.processInfo.environment["EMALOG_MUTATION_SEED"] ?? "") ?? 0x5EED_0009
        var rng = SeededGenerator(seed: seed)
        let pageSize = 16384
        for trial in 0..<trials {
            var bytes = [UInt8](pristine)
            // One page at a time, past the 100-byte file header (damage there is "not a log").
            let page = Int(rng.next() % UInt64(bytes.count / pageSize))
            for _ in 0..<(1 + Int(rng.next() % 8)) {
                let offset = max(100, page * pageSize + Int(rng.next() % UInt64(pageSize)))
                bytes[offset] ^= UInt8(1 + rng.next() % 255)
            }
            let db = dir.file("flip-\(trial).emalog")
            try Data(bytes).write(to: URL(fileURLWithPath: db))
            try await runEverything(on: db, "seed \(seed) trial \(trial) (page \(page))")
            try? FileManager.default.removeItem(atPath: db)
        }
    }

    @Test(arguments: [
        "UPDATE chunks SET raw_size = raw_size + 8 WHERE id % 7 = 3",
        "UPDATE chunks SET raw_size = 9223372036854775807 WHERE id = 2",
        "UPDATE chunks SET data = substr(data, 1, length(data) / 2) WHERE codec != 'plain'",
        "UPDATE chunks SET data = zeroblob(length(data)) WHERE id % 5 = 0",
        "UPDATE chunks SET codec = 'delta2-rans' WHERE codec = 'shuffle-zstd'",
        "UPDATE chunks SET codec = 'plain'",
        "UPDATE chunks SET xxh64 = xxh64 + 1 WHERE id = 9",
        "UPDATE snapshot_chunks SET raw_size = 4 WHERE id = 1",
        "UPDATE snapshot_chunks SET codec = 'delta1-zstd'",
        "UPDATE tensors SET shape = '[99999999999,99999999999]'",
        "UPDATE tensors SET element_count = 0, shape = '[0]' WHERE position = 1",
        "UPDATE tensors SET dtype = 'BF16' WHERE dtype = 'F32'",
        "UPDATE tensors SET dtype = 'F32' WHERE dtype = 'I64'",
        "UPDATE log_info SET value = '-8' WHERE key = 'chunk_bytes'",
        "UPDATE log_info SET value = '16' WHERE key = 'chunk_bytes'",
        "DELETE FROM log_info",
        "UPDATE tracks SET spec = 'decay=2,schedule=warmup'",
        "UPDATE tracks SET spec = 'decay=0.9,schedule=power,gamma=-3'",
        "UPDATE tracks SET spec = ''",
        "UPDATE snapshots SET step = 3 WHERE id = 1",
        "DELETE FROM snapshot_chunks WHERE id % 2 = 0",
        "DELETE FROM chunks WHERE step = 5",
        "DELETE FROM steps WHERE step = 1",
        "UPDATE steps SET metadata = '{\"step\": 5}' WHERE step = 5",
        "UPDATE metric_blocks SET first_step = first_step + 1",
        "UPDATE metric_blocks SET data = substr(data, 1, 20)",
        "UPDATE metric_blocks SET count = 100000, last_step = 1",
        "UPDATE metric_blocks SET count = 4611686018427387904",
        "INSERT INTO metric_blocks (key_id, first_step, last_step, count, data) SELECT min(key_id), 2, 2, 1, x'02000000000000000000000000000000' FROM metric_blocks",
        "INSERT INTO metrics SELECT 2, id, 'x' FROM metric_keys",
        "UPDATE metric_keys SET name = ''",
        "DELETE FROM grdb_migrations",
        "UPDATE log_info SET value = char(27) || '[2J' || printf('%.5000c', 'x') WHERE key = 'log_id'",
        "INSERT INTO log_info (key, value) VALUES ('owed_snapshots', '1:5,x:-3')",
    ])
    func editsThroughSQLite(edit: String) async throws {
        let db = dir.file("edit-\(UUID().uuidString).emalog")
        try pristine.write(to: URL(fileURLWithPath: db))
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, "PRAGMA foreign_keys=OFF; PRAGMA ignore_check_constraints=ON; \(edit); PRAGMA wal_checkpoint(TRUNCATE);"])
        try await runEverything(on: db, edit)
    }
}
