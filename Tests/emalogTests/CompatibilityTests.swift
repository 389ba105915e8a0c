import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Logs written by earlier versions stay readable, and grow with today's codecs.
@Suite struct CompatibilityTests {
    let dir = TemporaryDirectory()

    /// XXH64 of the six source files (Tests/Fixtures/logs/make_v1_steps.py prints them).
    static let v1Sources: [UInt64] = [0x76f5_6d36_48ed_4d91, 0x93b5_b510_40b6_cbb9, 0xfa35_d6ec_11dc_20f1,
                                      0x999e_ef05_09c5_c8f8, 0x7e98_ef8e_2acf_2cd0, 0x3bf0_cb61_2480_57bd]

    func fileHash(_ path: String) throws -> UInt64 {
        try Data(contentsOf: URL(fileURLWithPath: path)).withUnsafeBytes { XXH64.hash($0) }
    }

    func codecs(_ db: String) async throws -> [String] {
        try await LogDump.run("/usr/bin/sqlite3", [db, "SELECT DISTINCT codec FROM chunks ORDER BY codec"])
            .split(separator: "\n").map(String.init)
    }

    func migrations(_ db: String) async throws -> [String] {
        try await LogDump.run("/usr/bin/sqlite3", [db, "SELECT identifier FROM grdb_migrations ORDER BY rowid"])
            .split(separator: "\n").map(String.init)
    }

    @Test func aV1LogWithZstdCodecsReadsAuditsAndGrowsWithRans() async throws {
        let db = dir.file("v1.emalog")
        try ZstdFile.decompress(Fixtures.path("logs/v1-zstd-codecs.emalog.zst"), to: db)
        #expect(try await codecs(db) == ["delta1-zstd", "delta2-zstd", "plain", "shuffle-zstd"])
        // A schema-1 log is read as it is (readers never write): 0002 only adds an index.
        #expect(try await migrations(db) == ["0001_initial"])
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 0 && audit.stdout.contains("clean"), "\(audit.stdout)\(audit.stderr)")

        // Every stored step comes back as the very file that was ingested.
        let raws = dir.file("raw")
        try FileManager.default.createDirectory(atPath: raws, withIntermediateDirectories: true)
        for step in 1...6 {
            let out = raws + "/step-\(step).safetensors"
            let r = try await CLI.run(["raw", "--db", db, "--step", "\(step)", "-o", out])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try fileHash(out) == Self.v1Sources[step - 1], "step \(step)")
        }

        // Steps 7-9 appended today (a new ingest starts at a keyframe): rANS residuals beside the
        // zstd-coded chunks, all readable.
        let added = dir.file("added")
        try FileManager.default.createDirectory(atPath: added, withIntermediateDirectories: true)
        var next = try SafetensorsBuilder(copying: raws + "/step-6.safetensors")
        for step in 7...9 {
            next.metadata["step"] = "\(step)"
            for i in next.tensors.indices {
                next.tensors[i].bytes = next.tensors[i].bytes.enumerated().map { $0.offset % 2 == 0 ? $0.element &+ 3 : $0.element }
            }
            try next.write(to: added + String(format: "/step-%08d.safetensors", step))
        }
        let ingest = try await CLI.run(["ingest", "--db", db, added])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        #expect(try await migrations(db) == ["0001_initial", "0002_chunks_by_tensor", "0003_metric_blocks", "0004_totals", "0005_pins",
                                               "0006_retention"])  // the ingest upgraded it
        #expect(try await LogDump.run("/usr/bin/sqlite3", [db, "SELECT name FROM sqlite_schema WHERE name = 'chunks_by_tensor'"]) == "chunks_by_tensor\n")
        #expect(try await codecs(db) == ["delta1-rans", "delta1-zstd", "delta2-rans", "delta2-zstd", "plain", "shuffle-zstd"])
        #expect(try await CLI.run(["audit", "--db", db]).status == 0)
        // `info` accounts for every codec: stored and raw bytes per codec add up to the chunks'.
        let info = try await CLI.run(["info", "--db", db, "--json"])
        guard case let .object(fields) = try JSONParser.parse(Array(info.stdout.utf8)),
              case let .array(codecs)? = fields.first(where: { $0.key == "codecs" })?.value else {
            Issue.record("info --json has no codecs: \(info.stdout)")
            return
        }
        let names = codecs.compactMap { entry -> String? in
            guard case let .object(f) = entry, case let .string(name)? = f.first(where: { $0.key == "codec" })?.value else { return nil }
            return name
        }
        #expect(names.sorted() == ["delta1-rans", "delta1-zstd", "delta2-rans", "delta2-zstd", "plain", "shuffle-zstd"])
        for step in 7...9 {
            let out = dir.file("raw-\(step).safetensors")
            #expect(try await CLI.run(["raw", "--db", db, "--step", "\(step)", "-o", out]).status == 0)
            let source = try LoadedSafetensors(path: added + String(format: "/step-%08d.safetensors", step))
            #expect(try LoadedSafetensors(path: out).tensors.mapValues(\.bytes) == source.tensors.mapValues(\.bytes))
        }

        // The shadow at step 9 equals that of a log written today from the same files.
        let fresh = dir.file("fresh.emalog")
        let copies = try dir.copySteps(from: raws, to: "all")
        for step in 7...9 {
            let name = String(format: "/step-%08d.safetensors", step)
            try FileManager.default.copyItem(atPath: added + name, toPath: copies + name)
        }
        for step in 1...6 {
            try FileManager.default.moveItem(atPath: copies + "/step-\(step).safetensors", toPath: copies + String(format: "/step-%08d.safetensors", step))
        }
        #expect(try await CLI.run(["ingest", "--db", fresh, "--ema", "name=main,decay=0.9", copies]).status == 0)
        let a = dir.file("a.safetensors"), b = dir.file("b.safetensors")
        #expect(try await CLI.run(["shadow", "--db", db, "--step", "9", "--ema", "main", "-o", a]).status == 0)
        #expect(try await CLI.run(["shadow", "--db", fresh, "--step", "9", "--ema", "main", "-o", b]).status == 0)
        #expect(try LoadedSafetensors(path: a).tensors.mapValues(\.bytes) == LoadedSafetensors(path: b).tensors.mapValues(\.bytes))
    }

    /// XXH64 of the five source files (Tests/Fixtures/logs/make_v1_rans_steps.py prints them).
    static let v1RansSources: [UInt64] = [0x1172_ce31_516f_447f, 0xe3dd_b1dc_cccd_7b52, 0x62ea_cd98_4548_f576,
                                          0xc665_285c_f5c2_8c1c, 0xd5ab_a621_f91d_2298]

    /// Version 1 rANS payloads (two interleaved lanes per segment, byte-wise renormalisation; F32
    /// with two segments, BF16, F16) decode to the very files that were ingested.
    @Test func aLogWithVersion1RansPayloadsReadsAndAudits() async throws {
        let db = dir.file("v1-rans.emalog")
        try ZstdFile.decompress(Fixtures.path("logs/v1-rans.emalog.zst"), to: db)
        #expect(try await codecs(db) == ["delta1-rans", "delta1-zstd", "delta2-rans", "delta2-zstd", "plain", "shuffle-zstd"])
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 0 && audit.stdout.contains("clean"), "\(audit.stdout)\(audit.stderr)")
        for step in 1...5 {
            let out = dir.file("v1-rans-\(step).safetensors")
            let r = try await CLI.run(["raw", "--db", db, "--step", "\(step)", "-o", out])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(try fileHash(out) == Self.v1RansSources[step - 1], "step \(step)")
        }
    }

    /// A schema-2 log holds its metrics as rows (one per value, NaN as NULL). This build reads them
    /// as they are; an ingest upgrades the log, keeps the rows, compares new values with them, and
    /// writes new values as blocks; reads merge both.
    @Test func schema2MetricRowsAreReadThenKeptBesideBlocks() async throws {
        let db = dir.file("rows.emalog")
        let first = dir.file("first.jsonl")
        try "{\"step\": 1, \"loss\": 0.5}\n".write(toFile: first, atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["ingest", "--db", db, first]).status == 0)
        // Make it the schema-2 log an earlier emalog wrote: rows, no blocks table, two migrations.
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, """
            ALTER TABLE steps DROP COLUMN raw; DELETE FROM grdb_migrations WHERE identifier = '0006_retention';
            DROP TABLE pins; DELETE FROM grdb_migrations WHERE identifier = '0005_pins';
            DROP TRIGGER metric_block_totals_insert; DROP TRIGGER metric_block_totals_delete; DROP TRIGGER metric_block_totals_update;
            DROP TABLE chunk_totals; DROP TABLE metric_block_totals; DELETE FROM grdb_migrations WHERE identifier = '0004_totals';
            DELETE FROM metric_blocks; DROP TABLE metric_blocks; DELETE FROM grdb_migrations WHERE identifier = '0003_metric_blocks';
            INSERT INTO metrics (step, key_id, value) SELECT 1, id, 0.5 FROM metric_keys WHERE name = 'loss';
            INSERT INTO metrics (step, key_id, value) SELECT 2, id, NULL FROM metric_keys WHERE name = 'loss';
            INSERT INTO metrics (step, key_id, value) SELECT 3, id, 0.25 FROM metric_keys WHERE name = 'loss';
            PRAGMA wal_checkpoint(TRUNCATE);
            """])
        #expect(try await migrations(db) == ["0001_initial", "0002_chunks_by_tensor"])
        let before = try await CLI.run(["metrics", "--db", db, "--format", "csv"])
        #expect(before.status == 0 && before.stdout == "step,loss\n1,0.5\n2,nan\n3,0.25\n", "\(before.stdout)\(before.stderr)")
        // A conflicting value for a row is refused.
        let conflict = dir.file("conflict.jsonl")
        try "{\"step\": 3, \"loss\": 0.75}\n".write(toFile: conflict, atomically: true, encoding: .utf8)
        #expect(try await CLI.run(["ingest", "--db", db, conflict]).status == 65)
        // The same values again are unchanged; new steps go to blocks; all read back in step order.
        let more = dir.file("more.jsonl")
        try "{\"step\": 2, \"loss\": NaN}\n{\"step\": 4, \"loss\": 0.125, \"acc\": 1}\n{\"step\": 3, \"loss\": 0.25}\n"
            .write(toFile: more, atomically: true, encoding: .utf8)
        let ingest = try await CLI.run(["ingest", "--db", db, more])
        #expect(ingest.status == 0 && ingest.stderr.contains("2 metric values (2 already stored)"), "\(ingest.stderr)")
        #expect(try await migrations(db) == ["0001_initial", "0002_chunks_by_tensor", "0003_metric_blocks", "0004_totals", "0005_pins",
                                               "0006_retention"])
        let after = try await CLI.run(["metrics", "--db", db, "--format", "csv"])
        #expect(after.stdout == "step,acc,loss\n1,,0.5\n2,,nan\n3,,0.25\n4,1.0,0.125\n",
                "\(after.stdout)")
        #expect(try await CLI.run(["audit", "--db", db]).status == 0)
    }
}
