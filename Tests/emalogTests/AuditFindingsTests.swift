import EMALogFormats
import EMALogTestSupport
import Foundation
import Testing

/// `emalog audit` names each kind of damage exactly (kind, step, tensor, chunk, file) in its JSON
/// and exits 1; a clean log, a log whose sources moved, and a log with a replaced step give 0.
@Suite struct AuditFindingsTests {
    let dir = TemporaryDirectory()
    let steps: String
    let db: String

    struct Finding: Equatable, CustomStringConvertible {
        var kind: String
        var step: Int?
        var tensor: String?
        var chunk: Int?
        var file: String?
        var description: String { "\(kind) step \(step as Any) tensor \(tensor as Any) chunk \(chunk as Any) file \(file as Any)" }
    }

    init() throws {
        steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "steps") { $0 <= "step-00000012.safetensors" }
        db = dir.file("run.emalog")
        let r = try CLI.run(["ingest", "--db", db, "--ema", "0.9", "--snapshot-every", "4", "--keyframe-every", "4",
                             steps, Fixtures.path("mlp-f32/metrics.jsonl")])
        precondition(r.status == 0, r.stderr)
    }

    func sql(_ statements: String) async throws -> String {
        try await LogDump.run("/usr/bin/sqlite3", [db, "PRAGMA foreign_keys=OFF; \(statements); PRAGMA wal_checkpoint(TRUNCATE);"])
    }

    /// Runs `audit --format json`; returns the exit status, the verdict and the findings.
    func audit(_ extra: [String] = []) async throws -> (status: Int32, verdict: String, findings: [Finding], summary: [String: Any]) {
        let r = try await CLI.run(["audit", "--db", db, "--format", "json"] + extra)
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        let findings = (object["findings"] as! [[String: Any]]).map {
            Finding(kind: $0["kind"] as! String, step: $0["step"] as? Int, tensor: $0["tensor"] as? String,
                    chunk: $0["chunk"] as? Int, file: $0["file"] as? String)
        }
        return (r.status, object["verdict"] as! String, findings, object["summary"] as! [String: Any])
    }

    var firstTensor: String { get async throws { try await sql("SELECT name FROM tensors WHERE id = 1").components(separatedBy: "\n")[0] } }

    @Test func aCleanLogHasNoFindings() async throws {
        let a = try await audit(["--sources", steps])
        #expect(a.status == 0 && a.verdict == "clean" && a.findings.isEmpty, "\(a.findings)")
        #expect(a.summary["steps"] as? Int == 12 && a.summary["sources"] as? Int == 12 && a.summary["ingests"] as? Int == 1)
        let text = try await CLI.run(["audit", "--db", db])
        #expect(text.status == 0 && text.stdout.hasPrefix("audit: 12 steps, ") && text.stdout.hasSuffix(": clean\n"), "\(text.stdout)")
    }

    @Test func aDamagedChunkIsNamed() async throws {
        let tensor = try await firstTensor
        _ = try await sql("UPDATE chunks SET xxh64 = 1 WHERE step = 5 AND chunk_index = 0 AND tensor_id = 1")
        let a = try await audit()
        #expect(a.status == 1 && a.verdict == "findings")
        #expect(a.findings.first == Finding(kind: "chunk", step: 5, tensor: tensor, chunk: 0, file: nil), "\(a.findings)")
        // Steps decoded through the damaged one are named too, never another chunk; snapshots are not judged.
        #expect(a.findings.allSatisfy { $0.kind == "chunk" && $0.tensor == tensor && $0.chunk == 0 && $0.step! >= 5 }, "\(a.findings)")
    }

    @Test func aDamagedSnapshotIsNamed() async throws {
        let first = "WHERE id = (SELECT min(id) FROM snapshot_chunks)"
        let info = try await sql("SELECT length(data), s.step, t.name FROM snapshot_chunks c JOIN snapshots s ON s.id = c.snapshot_id "
            + "JOIN tensors t ON t.id = c.tensor_id \(first.replacingOccurrences(of: "id =", with: "c.id ="))")
            .split(separator: "\n")[0].split(separator: "|")
        let length = Int(info[0])!, step = Int(info[1])!, tensor = String(info[2])
        let hash = Int64(bitPattern: [UInt8](repeating: 0, count: length).withUnsafeBytes { XXH64.hash($0) })
        _ = try await sql("UPDATE snapshot_chunks SET data = zeroblob(length(data)), xxh64 = \(hash) \(first)")
        let a = try await audit()
        #expect(a.status == 1 && a.findings == [Finding(kind: "snapshot", step: step, tensor: tensor, chunk: nil, file: nil)], "\(a.findings)")
    }

    @Test func aDamagedMetricBlockIsNamed() async throws {
        let first = await Int(try sql("SELECT min(first_step) FROM metric_blocks").split(separator: "\n")[0])!
        _ = try await sql("UPDATE metric_blocks SET key_id = 999 WHERE key_id = (SELECT min(key_id) FROM metric_blocks)")
        var a = try await audit()
        #expect(a.status == 1 && a.findings == [Finding(kind: "metric", step: first, tensor: nil, chunk: nil, file: nil)], "\(a.findings)")
        _ = try await sql("UPDATE metric_blocks SET data = substr(data, 1, 24) WHERE key_id = (SELECT max(key_id) FROM metric_blocks WHERE key_id < 999)")
        a = try await audit()
        #expect(a.status == 1 && a.findings.count == 2 && a.findings.allSatisfy { $0.kind == "metric" }, "\(a.findings)")
    }

    @Test func overlappingMetricBlocksAndAStepStoredTwiceAreNamed() async throws {
        // A one-value block at step 10 inside the block that holds steps 1-12 of the same key, and
        // a schema-2 row at step 5 of a step a block holds.
        _ = try await sql("""
            INSERT INTO metric_blocks (key_id, first_step, last_step, count, data)
              SELECT min(key_id), 10, 10, 1, x'0a00000000000000000000000000f03f' FROM metric_blocks;
            INSERT INTO metrics (step, key_id, value) SELECT 5, max(key_id), 1.0 FROM metric_blocks
            """)
        let a = try await audit()
        #expect(a.status == 1 && a.findings == [5, 10].map { Finding(kind: "metric", step: $0, tensor: nil, chunk: nil, file: nil) },
                "\(a.findings)")
        // Readers refuse them (74) rather than return one of the two values.
        let r = try await CLI.run(["metrics", "--db", db, "--format", "csv"])
        #expect(r.status == 74 && (r.stderr.contains("overlap") || r.stderr.contains("stored twice")), "\(r.stderr)")
    }

    /// `info` reads the running totals (schema 4); audit checks them against the rows they count.
    @Test func runningTotalsThatDisagreeWithTheRowsAreNamed() async throws {
        let before = try await CLI.run(["info", "--db", db, "--json"]).stdout
        _ = try await sql("UPDATE chunk_totals SET chunks = chunks + 1 WHERE codec = 'plain'; UPDATE metric_block_totals SET value_count = 7")
        let a = try await audit()
        #expect(a.status == 1 && a.findings.count == 2 && a.findings.allSatisfy { $0.kind == "content" }, "\(a.findings)")
        #expect(a.summary["snapshots"] as? Int == 3, "the replay still re-derives every snapshot")
        #expect(try await CLI.run(["info", "--db", db, "--json"]).stdout != before)
    }

    @Test func aDamagedPinIsNamed() async throws {
        #expect(try await CLI.run(["pin", "--db", db, "--step", "5", "--name", "best"]).status == 0)
        #expect(try await audit().status == 0)
        _ = try await sql("UPDATE pins SET name = 'a' || char(9) || 'b'")
        let a = try await audit()
        #expect(a.status == 1 && a.findings == [Finding(kind: "pin", step: nil, tensor: nil, chunk: nil, file: nil)], "\(a.findings)")
        #expect(a.summary["snapshots"] as? Int == 3, "the replay still re-derives every snapshot")
    }

    @Test func aStepOfNoRecordedIngestIsASequenceFinding() async throws {
        _ = try await sql("UPDATE steps SET ingest_id = 99 WHERE step = 7")
        let a = try await audit()
        #expect(a.status == 1 && a.findings == [Finding(kind: "sequence", step: 7, tensor: nil, chunk: nil, file: nil)], "\(a.findings)")
    }

    @Test func aStepOfAnEarlierIngestAfterALaterOneIsASequenceFinding() async throws {
        // A second ingest that replaced nothing, then step 9 claimed by it: steps 10 to 12 (ingest 1) follow it.
        _ = try await sql("INSERT INTO ingests SELECT 2, started_at, emalog_version, arguments, configuration FROM ingests WHERE id = 1; "
            + "UPDATE steps SET ingest_id = 2 WHERE step = 9")
        let a = try await audit()
        #expect(a.status == 1 && a.findings == [10, 11, 12].map { Finding(kind: "sequence", step: $0, tensor: nil, chunk: nil, file: nil) },
                "\(a.findings)")
    }

    @Test func missingAndChangedSourcesAreNamedByFile() async throws {
        let missing = (steps as NSString).appendingPathComponent("step-00000004.safetensors")
        let changed = (steps as NSString).appendingPathComponent("step-00000006.safetensors")
        try FileManager.default.removeItem(atPath: missing)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: changed)))
        bytes[bytes.count - 1] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: changed))
        let a = try await audit(["--sources", steps])
        #expect(a.status == 1 && a.findings == [Finding(kind: "source-missing", step: 4, tensor: nil, chunk: nil, file: missing),
                                                Finding(kind: "source-changed", step: 6, tensor: nil, chunk: nil, file: changed)],
                "\(a.findings)")
        // Without --sources the files are not looked at.
        #expect(try await audit().status == 0)
    }

    @Test func sourcesMovedToAnotherFolderAreFoundByName() async throws {
        let moved = dir.file("elsewhere")
        try FileManager.default.moveItem(atPath: steps, toPath: moved)
        let a = try await audit(["--sources", moved])
        #expect(a.status == 0 && a.findings.isEmpty && a.summary["sources"] as? Int == 12, "\(a.findings)")
        #expect(try await CLI.run(["audit", "--db", db, "--sources", dir.file("nowhere")]).status == 64)
    }

    @Test func aReplacedStepGivesNoSequenceFinding() async throws {
        let file = (steps as NSString).appendingPathComponent("step-00000005.safetensors")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let header = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        bytes[8 + header] ^= 1  // the lowest mantissa bit of the first value
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let r = try await CLI.run(["ingest", "--db", db, "--replace", file])
        #expect(r.status == 0, "\(r.stderr)")
        let more = dir.file("more")
        _ = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "more") { $0 > "step-00000012.safetensors" && $0 <= "step-00000014.safetensors" }
        #expect(try await CLI.run(["ingest", "--db", db, more]).status == 0)
        let a = try await audit(["--sources", steps])
        // Step 5 changed on disk and in the log alike; the two later steps are not in `steps`.
        #expect(a.status == 1 && a.findings == [Finding(kind: "source-missing", step: 13, tensor: nil, chunk: nil, file: nil),
                                                Finding(kind: "source-missing", step: 14, tensor: nil, chunk: nil, file: nil)]
                    .map { var f = $0; f.file = (steps as NSString).appendingPathComponent("step-000000\(f.step!).safetensors"); return f },
                "\(a.findings)")
        #expect(try await audit().status == 0)
    }
}
