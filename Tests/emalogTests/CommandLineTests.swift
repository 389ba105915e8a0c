import EMALogTestSupport
import EMALogFormats
import FormatsTestSupport
import Foundation
import Testing

/// The CLI contract (README "Commands" and "Exit codes"), end to end on real files: commands, outputs, exit codes, messages.
@Suite struct CommandLineTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("run.emalog") }
    let steps = Fixtures.path("mlp-f32/steps")
    let metrics = Fixtures.path("mlp-f32/metrics.jsonl")

    func ingested(_ extra: [String] = []) async throws -> CLI.Result {
        let r = try await CLI.run(["ingest", "--db", db, "--ema", "0.9", "--ema", "name=timm,decay=0.999,schedule=warmup,form=lerp"] + extra + [steps, metrics])
        #expect(r.status == 0, "\(r.stderr)")
        return r
    }

    @Test func tutorialFlow() async throws {
        let r = try await ingested()
        #expect(r.stderr.contains("added 24 steps, skipped 0 identical, 72 metric values"))
        let out = dir.file("ema.safetensors")
        #expect(try await CLI.run(["shadow", "--db", db, "--step", "24", "--ema", "timm", "-o", out]).status == 0)
        let golden = try Goldens.golden("timm-v3-warmup-d0.999-step-24.safetensors")
        let got = try LoadedSafetensors(path: out)
        #expect(Goldens.differences(got, golden) == [])
        #expect(got.metadata["step"] == "24" && got.metadata["ema"] == "decay=0.999,schedule=warmup,gamma=1,power=0.6666666666666666,min=0,form=lerp")
        #expect(got.metadata["log"]?.count == 36)
        #expect(try await CLI.run(["shadow", "--db", db, "--step", "24", "--decay", "0.9", "-o", out]).status == 0)
        #expect(Goldens.differences(try LoadedSafetensors(path: out), try Goldens.golden("seed-d0.9-step-24.safetensors")) == [])

        let raw = dir.file("raw.safetensors")
        #expect(try await CLI.run(["raw", "--db", db, "--step", "7", "-o", raw]).status == 0)
        let source = try LoadedSafetensors(path: steps + "/step-00000007.safetensors")
        let back = try LoadedSafetensors(path: raw)
        #expect(back.tensors.mapValues(\.bytes) == source.tensors.mapValues(\.bytes))
        #expect(back.metadata == source.metadata && back.order == source.order)

        let csv = try await CLI.run(["metrics", "--db", db, "--key", "loss", "--key", "eval/acc"])
        #expect(csv.stdout.hasPrefix("step,loss,eval/acc\n1,"))
        #expect(csv.stdout.split(separator: "\n").count == 25)
        let json = try await CLI.run(["metrics", "--db", db, "--format", "json", "--from", "3", "--to", "4"])
        #expect(json.stdout.split(separator: "\n").count == 2 && json.stdout.hasPrefix("{\"step\":3,\"eval/acc\":0.03,"))

        let info = try await CLI.run(["info", "--db", db])
        #expect(info.status == 0 && info.stdout.contains("steps        24 (1 ... 24)") && info.stdout.contains("timm"))
        let infoJSON = try await CLI.run(["info", "--db", db, "--json"])
        #expect(throws: Never.self) { try JSONParser.parse(Array(infoJSON.stdout.utf8)) }
        let audit = try await CLI.run(["audit", "--db", db])
        #expect(audit.status == 0 && audit.stdout.contains("clean"))
    }

    @Test func sweepWritesOneFilePerDecay() async throws {
        _ = try await ingested()
        let out = dir.file("sweep")
        let r = try await CLI.run(["sweep", "--db", db, "--decays", "0.9,0.99", "--ema", "name=w,decay=0.999,schedule=warmup,form=lerp", "--step", "12", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let files = try FileManager.default.contentsOfDirectory(atPath: out).sorted()
        #expect(files == ["ema-0.9-step-12.safetensors", "ema-0.99-step-12.safetensors", "w-step-12.safetensors"])
        #expect(Goldens.differences(try LoadedSafetensors(path: out + "/ema-0.99-step-12.safetensors"), try Goldens.golden("seed-d0.99-step-12.safetensors")) == [])
        #expect(Goldens.differences(try LoadedSafetensors(path: out + "/w-step-12.safetensors"), try Goldens.golden("timm-v3-warmup-d0.999-step-12.safetensors")) == [])
    }

    @Test func inspectionFormats() async throws {
        _ = try await ingested()
        let json = dir.file("s.json")
        #expect(try await CLI.run(["shadow", "--db", db, "--ema", "timm", "-o", json]).status == 0)
        let parsed = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: json))))
        guard case let .object(top) = parsed, case let .object(tensors)? = top.first(where: { $0.key == "tensors" })?.value else {
            Issue.record("json layout"); return
        }
        #expect(tensors.count == 12)
        let npz = dir.file("s.npz")
        #expect(try await CLI.run(["raw", "--db", db, "-o", npz]).status == 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: npz))
        #expect(bytes.prefix(4) == Data([0x50, 0x4B, 0x03, 0x04]))
        #expect(String(decoding: bytes, as: UTF8.self).contains("fc1.weight.npy"))
    }

    @Test func exitCodesFollowSpec() async throws {
        _ = try await ingested()
        let cases: [([String], Int32, String)] = [
            (["shadow", "--ema", "0.9", "-o", "x"], 64, "--db"),
            (["shadow", "--db", dir.file("missing.emalog"), "-o", dir.file("x")], 66, "no log at"),
            (["ingest", "--db", db, dir.file("nope")], 66, "no such file"),
            (["shadow", "--db", db, "--step", "99", "--ema", "timm", "-o", dir.file("x")], 65, "nearest before is 24"),
            (["shadow", "--db", db, "-o", dir.file("x")], 64, "several tracks"),
            (["shadow", "--db", db, "--ema", "slow", "-o", dir.file("x")], 64, "no track named 'slow'"),
            (["shadow", "--db", db, "--step=-1", "--ema", "timm", "-o", dir.file("x")], 64, "--step must be an integer >= 0"),
            (["ingest", "--db", db, "--ema", "name=timm,decay=0.99", steps], 64, "track 'timm' is stored as"),
            (["ingest", "--db", db, "--ema", "decay=2", steps], 64, "decay must be in [0, 1)"),
            (["metrics", "--db", db, "--key", "nope"], 65, "no metric named 'nope'"),
            (["shadow", "--db", db, "--ema", "timm", "-o", "/nonexistent/dir/x.safetensors"], 74, "cannot write"),
        ]
        for (args, status, message) in cases {
            let r = try await CLI.run(args)
            #expect(r.status == status, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(message), "\(args): \(r.stderr)")
        }
        let notALog = dir.file("notes.txt")
        try "not a database".write(toFile: notALog, atomically: true, encoding: .utf8)
        let r = try await CLI.run(["info", "--db", notALog])
        #expect(r.status == 74 && r.stderr.contains("not a usable emalog log"))
        #expect(try String(contentsOfFile: notALog, encoding: .utf8) == "not a database")
    }

    @Test func aBadFileExits65NamingIt() async throws {
        _ = try await ingested()
        let bad = dir.file("step-00000025.safetensors")
        try Data(try Data(contentsOf: URL(fileURLWithPath: steps + "/step-00000024.safetensors")).prefix(300)).write(to: URL(fileURLWithPath: bad))
        let r = try await CLI.run(["ingest", "--db", db, bad])
        #expect(r.status == 65 && r.stderr.contains(bad))
    }

    @Test func auditFindsADamagedSnapshot() async throws {
        _ = try await ingested()
        let first = "WHERE id = (SELECT min(id) FROM snapshot_chunks)"
        // Bytes consistent with their checksum but not with a replay of the raw steps: exit 1.
        let length = await Int(try LogDump.run("/usr/bin/sqlite3", [db, "SELECT length(data) FROM snapshot_chunks \(first)"])
            .trimmingCharacters(in: .whitespacesAndNewlines))!
        let hash = Int64(bitPattern: [UInt8](repeating: 0, count: length).withUnsafeBytes { XXH64.hash($0) })
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, "UPDATE snapshot_chunks SET data = zeroblob(length(data)), xxh64 = \(hash) \(first)"])
        let mismatch = try await CLI.run(["audit", "--db", db])
        #expect(mismatch.status == 1 && mismatch.stdout.contains("differs from the replay"), "\(mismatch.stdout) \(mismatch.stderr)")
        // Bytes that fail their checksum: exit 1 too, naming the chunk.
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, "UPDATE snapshot_chunks SET xxh64 = 0 \(first)"])
        let damaged = try await CLI.run(["audit", "--db", db])
        #expect(damaged.status == 1 && damaged.stdout.contains("checksum mismatch"), "\(damaged.stdout) \(damaged.stderr)")
        // A damaged raw chunk: exit 1, naming the step.
        _ = try await LogDump.run("/usr/bin/sqlite3", [db, "UPDATE chunks SET xxh64 = 1 WHERE step = 5 AND chunk_index = 0 AND tensor_id = 1"])
        let raw = try await CLI.run(["audit", "--db", db])
        #expect(raw.status == 1 && raw.stdout.contains("step 5:"), "\(raw.stdout)")
    }

    @Test func theShippedDemoRunIngestsAndAudits() async throws {
        let demo = Fixtures.packageRoot + "/examples/demo-run"
        let r = try await CLI.run(["ingest", "--db", db, "--ema", "0.9", "--ema", "name=timm,decay=0.98,schedule=warmup,form=lerp",
                             demo + "/steps", demo + "/metrics.jsonl"])
        #expect(r.status == 0 && r.stderr.contains("added 120 steps"), "\(r.stderr)")
        #expect(try await CLI.run(["sweep", "--db", db, "--decays", "0.9,0.95", "--step", "120", "-o", dir.file("sweep")]).status == 0)
        #expect(try await CLI.run(["audit", "--db", db]).status == 0)
    }

    @Test func helpListsEveryCommand() async throws {
        let r = try await CLI.run(["--help"])
        for command in ["ingest", "shadow", "raw", "sweep", "metrics", "info", "audit"] { #expect(r.stdout.contains(command)) }
    }
}
