import EMALogFormats
import EMALogTestSupport
import Foundation
import Testing

/// `emalog truncate --after S`: the log ends at S, the truncation is in the audit trail, and a
/// training resumed from S continues it as if the abandoned steps had never been logged.
@Suite struct TruncateTests {
    let steps = Fixtures.path("mlp-f32/steps")
    let metrics = Fixtures.path("mlp-f32/metrics.jsonl")

    @Test func aTruncatedLogContinuesAsTheCleanRunBitForBit() async throws {
        let dir = TemporaryDirectory()
        let full = dir.file("full.emalog"), cut = dir.file("cut.emalog")
        let tracks = ["--ema", "0.9", "--ema", "name=w,decay=0.99,schedule=warmup,form=lerp", "--snapshot-every", "5"]
        #expect(try await CLI.run(["ingest", "--db", full] + tracks + [steps, metrics]).status == 0)
        try FileManager.default.copyItem(atPath: full, toPath: cut)  // the same log (its id is in every output)
        let truncated = try await CLI.run(["truncate", "--db", cut, "--after", "13", "--format", "json"])
        #expect(truncated.status == 0, "\(truncated.stderr)")
        guard case let .object(members) = try JSONParser.parse(Array(truncated.stdout.utf8)) else { Issue.record("not JSON"); return }
        let removed = Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(removed["steps"] == .number(JSONNumber(text: "11", isIntegerLiteral: true)), "\(truncated.stdout)")
        #expect(removed["snapshots"] == .number(JSONNumber(text: "6", isIntegerLiteral: true)))  // 15, 20, 24 of two tracks
        let info = try await CLI.run(["info", "--db", cut, "--json", "--provenance"])
        #expect(info.stdout.contains(#""steps":13,"first_step":1,"last_step":13,"#), "\(info.stdout)")
        #expect(info.stdout.contains(#""configuration":{"truncated_after":13,"removed_steps":11,"removed_snapshots":6,"#))
        #expect(try await CLI.run(["audit", "--db", cut]).status == 0)
        // Metrics of later steps are gone, those before kept (the block that held both was cut).
        let csv = try await CLI.run(["metrics", "--db", cut, "--format", "csv", "--key", "loss"])
        #expect(csv.stdout.split(separator: "\n").last?.hasPrefix("13,") == true && csv.stdout.split(separator: "\n").count == 14, "\(csv.stdout)")

        // The same steps again: every shadow, raw step and metric is the uncut log's.
        #expect(try await CLI.run(["ingest", "--db", cut, "--snapshot-every", "5", steps, metrics]).status == 0)
        for query in [["shadow", "--ema", "0.9"], ["shadow", "--ema", "w", "--step", "17"], ["shadow", "--decay", "0.95", "--step", "22"],
                      ["raw", "--step", "20"]] {
            let a = dir.file("a.safetensors"), b = dir.file("b.safetensors")
            #expect(try await CLI.run(query + ["--db", full, "-o", a]).status == 0)
            #expect(try await CLI.run(query + ["--db", cut, "-o", b]).status == 0)
            #expect(FileManager.default.contentsEqual(atPath: a, andPath: b), "\(query)")
        }
        #expect(try await CLI.run(["metrics", "--db", cut, "--format", "csv"]).stdout
            == (try await CLI.run(["metrics", "--db", full, "--format", "csv"])).stdout)
        #expect(try await CLI.run(["audit", "--db", cut]).status == 0)
    }

    @Test func truncationKeepsPinsAndSaysWhatItDid() async throws {
        let dir = TemporaryDirectory()
        let log = dir.file("run.emalog")
        #expect(try await CLI.run(["ingest", "--db", log, "--ema", "0.9", steps, metrics]).status == 0)
        #expect(try await CLI.run(["pin", "--db", log, "--step", "20", "--name", "best"]).status == 0)
        let refused = try await CLI.run(["truncate", "--db", log, "--after", "10"])
        #expect(refused.status == 65 && refused.stderr.contains("steps after 10 are pinned (best): a truncation keeps every pinned step"),
                "\(refused.stderr)")
        #expect(try await CLI.run(["info", "--db", log, "--json"]).stdout.contains(#""last_step":24"#), "a refusal changes nothing")
        let byName = try await CLI.run(["truncate", "--db", log, "--after", "best"])
        #expect(byName.status == 0 && byName.stdout.hasPrefix("truncated after step 20: removed 4 steps,"), "\(byName.stdout)")
        let again = try await CLI.run(["truncate", "--db", log, "--after", "22"])
        #expect(again.stdout == "nothing after step 22: the log already ends there\n")
        #expect(try await CLI.run(["truncate", "--db", dir.file("none.emalog"), "--after", "3"]).status == 66)
        #expect(try await CLI.run(["truncate", "--db", log, "--after=-1"]).status == 64)
    }

    func digest(_ args: [String]) async throws -> String {
        let r = try await CLI.run(["info"] + args + ["--digest", "--json"])
        guard let range = r.stdout.range(of: "\"content_sha256\":\"") else { return "none: \(r.stderr)" }
        return String(r.stdout[range.upperBound...].prefix(64))
    }

    @Test(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1"))
    func aPushOfATruncatedLogTruncatesTheRun() async throws {
        let dir = TemporaryDirectory()
        let log = dir.file("run.emalog")
        #expect(try await CLI.run(["ingest", "--db", log, "--ema", "0.9", "--snapshot-every", "5", steps, metrics]).status == 0)
        let db = try await ThrowawayPostgres.database()
        #expect(try await CLI.run(["push", "--db", log, "--to", db, "--run", "r"]).status == 0)
        #expect(try await CLI.run(["truncate", "--db", log, "--after", "13"]).status == 0)
        let pushed = try await CLI.run(["push", "--db", log, "--to", db, "--run", "r"])
        #expect(pushed.status == 0 && pushed.stdout.contains("11 removed (the log was truncated)"), "\(pushed.stdout) \(pushed.stderr)")
        #expect(try await digest(["--db", db, "--run", "r"]) == (try await digest(["--db", log])))
        #expect(try await CLI.run(["runs", "--db", db]).stdout.contains("r    13     13"), "runs counts the truncated run")
        // The training resumed: steps 14-24 again, pushed as the run's continuation.
        #expect(try await CLI.run(["ingest", "--db", log, steps, metrics]).status == 0)
        #expect(try await CLI.run(["push", "--db", log, "--to", db, "--run", "r"]).status == 0)
        #expect(try await digest(["--db", db, "--run", "r"]) == (try await digest(["--db", log])))
        #expect(try await CLI.run(["audit", "--db", db, "--run", "r"]).status == 0)
        #expect(try await CLI.run(["push", "--db", log, "--to", db, "--run", "r"]).stdout.contains("up to date"))
    }

    /// The new user's case: training resumed from its checkpoint at step 10 of a log that went to
    /// 20, and the resumed run's steps replaced 11-15 (`--replace`, as `Logger(replace=True)`):
    /// steps 16-20 of the abandoned run are still there. The audit says so (kind continuation);
    /// one replaced step (a damaged file fixed) is not flagged; a truncation first audits clean.
    @Test func anAuditFlagsTwoContinuationsMixedWithoutATruncation() async throws {
        let dir = TemporaryDirectory()
        try SyntheticRun.write(steps: 1...20, parameters: 2000, to: dir.file("first"))
        try SyntheticRun.write(steps: 11...15, parameters: 2000, to: dir.file("resumed"), seed: 9)
        let mixed = dir.file("mixed.emalog"), fixed = dir.file("fixed.emalog"), clean = dir.file("clean.emalog")
        for log in [mixed, fixed, clean] {
            #expect(try await CLI.run(["ingest", "--db", log, "--ema", "0.9", "--snapshot-every", "5", dir.file("first")]).status == 0)
        }
        #expect(try await CLI.run(["ingest", "--db", mixed, "--replace", dir.file("resumed")]).status == 0)
        let audit = try await CLI.run(["audit", "--db", mixed, "--format", "json"])
        #expect(audit.status == 1 && audit.stdout.contains(#""kind":"continuation","step":16"#), "\(audit.stdout)")
        #expect(audit.stdout.contains("steps 11 to 15") && audit.stdout.contains("steps 16 to 20"), "\(audit.stdout)")

        #expect(try await CLI.run(["ingest", "--db", fixed, "--replace", dir.file("resumed/step-00000012.safetensors"),
                                   dir.file("resumed/step-00000014.safetensors")]).status == 0)
        #expect(try await CLI.run(["audit", "--db", fixed]).status == 0, "replaced steps with earlier ones between are fixes")

        #expect(try await CLI.run(["truncate", "--db", clean, "--after", "10"]).status == 0)
        #expect(try await CLI.run(["ingest", "--db", clean, dir.file("resumed")]).status == 0)
        #expect(try await CLI.run(["audit", "--db", clean]).status == 0)
    }
}
