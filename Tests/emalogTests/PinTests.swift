import EMALogFormats
import EMALogTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `emalog pin` / `pins` and `--step NAME` on every reader, on a log file and through a team store.
@Suite struct PinTests {
    func makeLog(_ dir: TemporaryDirectory) async throws -> String {
        let log = dir.file("run.emalog")
        let steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "steps") { _ in true }
        let r = try await CLI.run(["ingest", "--db", log, "--ema", "0.9", "--snapshot-every", "5", steps, Fixtures.path("mlp-f32/metrics.jsonl")])
        #expect(r.status == 0, "\(r.stderr)")
        return log
    }

    @Test func aPinnedStepIsReadByItsName() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir)
        let pinned = try await CLI.run(["pin", "--db", log, "--step", "13", "--name", "best"])
        #expect(pinned.status == 0 && pinned.stdout == "pinned step 13 as 'best'\n", "\(pinned.stdout) \(pinned.stderr)")
        #expect(try await CLI.run(["pin", "--db", log, "--step", "best", "--name", "also best"]).status == 0)
        for (name, query) in [("shadow", ["shadow", "--ema", "0.9"]), ("post hoc", ["shadow", "--decay", "0.97"]), ("raw", ["raw"])] {
            let byName = dir.file("\(name)-name.safetensors"), byNumber = dir.file("\(name)-number.safetensors")
            let a = try await CLI.run(query + ["--db", log, "--step", "best", "-o", byName])
            let b = try await CLI.run(query + ["--db", log, "--step", "13", "-o", byNumber])
            #expect(a.status == 0 && b.status == 0, "\(name): \(a.stderr) \(b.stderr)")
            #expect(FileManager.default.contentsEqual(atPath: byName, andPath: byNumber), "\(name)")
        }
        let sweep = try await CLI.run(["sweep", "--db", log, "--decays", "0.9", "--step", "also best", "-o", dir.file("sweep")])
        #expect(sweep.status == 0 && FileManager.default.fileExists(atPath: dir.file("sweep/ema-0.9-step-13.safetensors")), "\(sweep.stderr)")
        let verify = try await CLI.run(["verify", "--db", log, "--ema", "0.9", "--step", "best", dir.file("shadow-number.safetensors")])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")

        let table = try await CLI.run(["pins", "--db", log])
        #expect(table.status == 0 && table.stdout.hasPrefix("name       step  pinned at\nalso best  13    "), "\(table.stdout)")
        let json = try await CLI.run(["pins", "--db", log, "--format", "json"])
        #expect(json.stdout.split(separator: "\n").count == 2 && json.stdout.hasPrefix(#"{"name":"also best","step":13,"pinned_at":""#))
        let info = try await CLI.run(["info", "--db", log])
        #expect(info.stdout.contains("\npins         also best (step 13), best (step 13)\n"), "\(info.stdout)")

        // A name again moves it; --remove takes it away.
        #expect(try await CLI.run(["pin", "--db", log, "--step", "20", "--name", "best"]).status == 0)
        #expect(try await CLI.run(["pins", "--db", log, "--format", "json"]).stdout.contains(#"{"name":"best","step":20,"#))
        #expect(try await CLI.run(["pin", "--db", log, "--remove", "also best"]).stdout == "removed pin 'also best'\n")
    }

    /// A step is pinned while the run is still being ingested (`--follow`, as a Logger's run),
    /// before its retention policy would drop it: the pin waits only for the ingest's transaction,
    /// and the step keeps its raw weights when the policy thins the steps around it.
    @Test func aStepPinnedDuringTheRunSurvivesItsPolicy() async throws {
        let dir = TemporaryDirectory()
        let source = dir.file("source"), watched = dir.file("watched")
        try SyntheticRun.write(steps: 1...30, parameters: 2_000, to: source)
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        func deliver(_ range: ClosedRange<Int>) throws {
            for step in range {
                let name = String(format: "step-%08d.safetensors", step)
                try FileManager.default.copyItem(atPath: source + "/" + name, toPath: watched + "/" + name + ".tmp")
                try FileManager.default.moveItem(atPath: watched + "/" + name + ".tmp", toPath: watched + "/" + name)
            }
        }
        let db = dir.file("run.emalog")
        try deliver(1...15)
        let follower = try CLI.start(["ingest", "--db", db, "--follow", "--poll-interval", "0.02", "--ema", "0.9",
                                      "--raw-every", "10", watched])
        let deadline = Date().addingTimeInterval(60)
        while await !(try CLI.run(["info", "--db", db]).stdout.contains("steps        15 (1 ... 15)")), Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let pinned = try await CLI.run(["pin", "--db", db, "--step", "13", "--name", "best"])
        #expect(pinned.status == 0, "a pin while the run is ingested: \(pinned.stderr)")
        try deliver(16...30)
        while await !(try CLI.run(["info", "--db", db]).stdout.contains("steps        30 (1 ... 30)")), Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        kill(follower.pid, SIGINT)
        #expect(await follower.wait().status == 0)
        let raw = try await CLI.run(["raw", "--db", db, "--step", "best", "-o", dir.file("best.safetensors")])
        #expect(raw.status == 0, "the pinned step kept its raw weights: \(raw.stderr)")
        let gone = try await CLI.run(["raw", "--db", db, "--step", "14", "-o", dir.file("gone.safetensors")])
        #expect(gone.status == 65, "its neighbour did not: \(gone.stderr)")
    }

    @Test func badPinsAreClearErrors() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir)
        let cases: [([String], Int32, String)] = [
            (["pin", "--db", log, "--step", "99", "--name", "x"], 65, "step 99 is not in the log; the nearest before is 24"),
            (["pin", "--db", log, "--step", "3", "--name", "7"], 64, "'7' cannot name a pin: it reads as a step number"),
            (["pin", "--db", log, "--step", "3", "--name", "a\tb"], 64, "cannot name a pin: it holds control characters"),
            (["pin", "--db", log, "--step", "nope", "--name", "x"], 65, "no step is pinned as 'nope'; pins: none"),
            (["pin", "--db", log, "--remove", "nope"], 65, "no step is pinned as 'nope'"),
            (["pin", "--db", log, "--step", "3"], 64, "give --step S and --name NAME (or --remove NAME)"),
            (["pin", "--db", log, "--step=-3", "--name", "x"], 64, "--step must be an integer >= 0, got -3"),
            (["pin", "--db", dir.file("none.emalog"), "--step", "3", "--name", "x"], 66, "no log at"),
            (["pin", "--db", "postgresql://me@127.0.0.1:1/db", "--step", "3", "--name", "x"], 64, "change the log file and push it again"),
            (["shadow", "--db", log, "--step", "best", "-o", dir.file("x.safetensors")], 65,
             "no step is pinned as 'best'; pins: none (`emalog pins` lists them"),
        ]
        for (args, status, words) in cases {
            let r = try await CLI.run(args)
            #expect(r.status == status && r.stderr.contains(words), "\(args): \(r.status) \(r.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("none.emalog")), "a pin creates no log")
    }

    @Test(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1"))
    func pinsTravelWithPushAndPull() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir)
        #expect(try await CLI.run(["pin", "--db", log, "--step", "13", "--name", "best"]).status == 0)
        let db = try await ThrowawayPostgres.database()
        #expect(try await CLI.run(["push", "--db", log, "--to", db, "--run", "r"]).status == 0)
        let remote = try await CLI.run(["pins", "--db", db, "--run", "r", "--format", "json"])
        #expect(remote.stdout.hasPrefix(#"{"name":"best","step":13,"#), "\(remote.stdout) \(remote.stderr)")
        let a = dir.file("local.safetensors"), b = dir.file("remote.safetensors")
        #expect(try await CLI.run(["shadow", "--db", log, "--step", "best", "-o", a]).status == 0)
        #expect(try await CLI.run(["shadow", "--db", db, "--run", "r", "--step", "best", "-o", b]).status == 0)
        #expect(FileManager.default.contentsEqual(atPath: a, andPath: b))
        // A moved and a removed pin reach the run at the next push, which is not up to date then.
        #expect(try await CLI.run(["pin", "--db", log, "--step", "20", "--name", "best"]).status == 0)
        #expect(try await CLI.run(["pin", "--db", log, "--step", "2", "--name", "early"]).status == 0)
        #expect(try await CLI.run(["push", "--db", log, "--to", db, "--run", "r"]).stdout.contains("pushed run 'r'"))
        #expect(try await CLI.run(["pins", "--db", db, "--run", "r"]).stdout.contains("best   20"))
        #expect(try await CLI.run(["pin", "--db", log, "--remove", "early"]).status == 0)
        #expect(try await CLI.run(["push", "--db", log, "--to", db, "--run", "r"]).status == 0)
        #expect(!(try await CLI.run(["pins", "--db", db, "--run", "r"]).stdout.contains("early")))
        #expect(try await CLI.run(["push", "--db", log, "--to", db, "--run", "r"]).stdout.contains("up to date"))
        // A pull takes them along, and the copy's digest is the run's.
        let copy = dir.file("copy.emalog")
        #expect(try await CLI.run(["pull", "--db", db, "--run", "r", "-o", copy]).status == 0)
        #expect(try await CLI.run(["pins", "--db", copy]).stdout.contains("best  20"))
    }
}
