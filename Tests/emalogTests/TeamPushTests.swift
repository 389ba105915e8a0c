import EMALogCore
import EMALogFormats
import EMALogPostgres
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// `emalog push` and the readers on a team store's run, against a real throwaway PostgreSQL: every
/// reader gives the local log's bytes, a push sends only what the server lacks, a killed push
/// resumes to the same content, identical chunks are stored once.
@Suite(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1: the team-store tests are skipped"))
struct TeamPushTests {
    let steps = Fixtures.path("mlp-f32/steps")
    let metrics = Fixtures.path("mlp-f32/metrics.jsonl")

    /// A log of mlp-f32's steps within `range` (two tracks, snapshots every 5 steps, the metrics).
    func makeLog(_ dir: TemporaryDirectory, _ name: String = "run.emalog", steps range: ClosedRange<Int> = 1...24) async throws -> String {
        let log = dir.file(name)
        let folder = try dir.copySteps(from: steps, to: name + "-steps") { file in
            guard let n = Int(file.dropFirst(5).prefix(8)) else { return false }
            return range.contains(n)
        }
        let r = try await CLI.run(["ingest", "--db", log, "--ema", "0.9", "--ema", "name=warm,decay=0.99,schedule=warmup",
                             "--snapshot-every", "5", folder, metrics])
        #expect(r.status == 0, "\(r.stderr)")
        return log
    }

    func digest(_ args: [String]) async throws -> String {
        let r = try await CLI.run(["info"] + args + ["--digest", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        guard let range = r.stdout.range(of: "\"content_sha256\":\"") else { return "none: \(r.stdout) \(r.stderr)" }
        return String(r.stdout[range.upperBound...].prefix(64))
    }

    func push(_ log: String, _ db: String, run: String = "r", env: [String] = []) async throws -> CLI.Result {
        try await CLI.run(program: "/usr/bin/env", env + [CLI.binary, "push", "--db", log, "--to", db, "--run", run])
    }

    @Test func everyReaderOnTheServerGivesTheLocalLogsBytes() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir)
        let db = try await ThrowawayPostgres.database()
        let pushed = try await push(log, db)
        #expect(pushed.status == 0 && pushed.stdout.contains("pushed run 'r': 24 steps"), "\(pushed.stdout) \(pushed.stderr)")
        let server = ["--db", db, "--run", "r"], local = ["--db", log]

        for (i, query) in [["shadow", "--ema", "0.9"], ["shadow", "--ema", "warm", "--step", "13"], ["shadow", "--decay", "0.95", "--step", "17"],
                           ["shadow", "--ema", "0.9", "--dtype", "param", "--step", "3"], ["raw", "--step", "11"], ["raw"]].enumerated() {
            let a = dir.file("local-\(i).safetensors"), b = dir.file("server-\(i).safetensors")
            let ra = try await CLI.run(query + local + ["-o", a]), rb = try await CLI.run(query + server + ["-o", b])
            #expect(ra.status == 0 && rb.status == 0, "\(query): \(ra.stderr) \(rb.stderr)")
            #expect(FileManager.default.contentsEqual(atPath: a, andPath: b), "\(query): the server's output differs")
        }
        let sa = try await CLI.run(["sweep", "--decays", "0.9,0.99,0.999", "--step", "20", "-o", dir.file("sweep-local")] + local)
        let sb = try await CLI.run(["sweep", "--decays", "0.9,0.99,0.999", "--step", "20", "-o", dir.file("sweep-server")] + server)
        #expect(sa.status == 0 && sb.status == 0, "\(sa.stderr) \(sb.stderr)")
        for file in try FileManager.default.contentsOfDirectory(atPath: dir.file("sweep-local")) {
            #expect(FileManager.default.contentsEqual(atPath: dir.file("sweep-local/" + file), andPath: dir.file("sweep-server/" + file)), "\(file)")
        }
        for query in [["metrics", "--format", "csv"], ["metrics", "--key", "loss", "--from", "3", "--to", "9", "--format", "json"]] {
            let a = try await CLI.run(query + local), b = try await CLI.run(query + server)
            #expect(a.status == 0 && a.stdout == b.stdout && !a.stdout.isEmpty, "\(query): \(b.stderr)")
        }
        let audit = try await CLI.run(["audit"] + server)
        #expect(audit.status == 0 && audit.stdout.contains("24 steps") && audit.stdout.contains("clean"), "\(audit.stdout) \(audit.stderr)")
        // A checkpoint written from the local log verifies exactly against the run on the server.
        let verify = try await CLI.run(["verify", "--ema", "0.9"] + server + [dir.file("local-0.safetensors")])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        #expect(try await digest(local) == (try digest(server)))

        let runs = try await CLI.run(["runs", "--db", db, "--format", "json"])
        #expect(runs.stdout.contains("\"name\":\"r\"") && runs.stdout.contains("\"steps\":24") && runs.stdout.contains("\"last_step\":24")
                && runs.stdout.contains("\"tracks\":2"), "\(runs.stdout)")
    }

    @Test func aSecondPushIsANoOpAndLaterStepsGoAlone() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir, steps: 1...12)
        let db = try await ThrowawayPostgres.database()
        #expect(try await push(log, db).status == 0)
        let again = try await push(log, db)
        #expect(again.status == 0 && again.stdout.contains("up to date"), "\(again.stdout)")
        // The rest of the run, ingested later (the metrics file again: its values are unchanged).
        let more = try dir.copySteps(from: steps, to: "more") { $0 > "step-00000012.safetensors" }
        #expect(try await CLI.run(["ingest", "--db", log, more, metrics]).status == 0)
        let next = try await push(log, db)
        #expect(next.status == 0 && next.stdout.contains("pushed run 'r': 12 steps"), "\(next.stdout) \(next.stderr)")
        #expect(try await digest(["--db", log]) == (try digest(["--db", db, "--run", "r"])))
    }

    @Test func aReplacedStepIsPushedAgainWithTheStepsThatDependedOnIt() async throws {
        let dir = TemporaryDirectory()
        try SyntheticRun.write(steps: 1...12, parameters: 3000, to: dir.file("a"))
        try SyntheticRun.write(steps: 6...6, parameters: 3000, to: dir.file("b"), seed: 7)
        let log = dir.file("run.emalog")
        #expect(try await CLI.run(["ingest", "--db", log, "--ema", "0.9", "--snapshot-every", "4", dir.file("a")]).status == 0)
        let db = try await ThrowawayPostgres.database()
        #expect(try await push(log, db).status == 0)
        let replace = try await CLI.run(["ingest", "--db", log, "--replace", dir.file("b")])
        #expect(replace.status == 0, "\(replace.stderr)")
        let again = try await push(log, db)
        #expect(again.status == 0 && again.stdout.contains("replaced in the log"), "\(again.stdout) \(again.stderr)")
        #expect(try await digest(["--db", log]) == (try digest(["--db", db, "--run", "r"])))
        let a = dir.file("l.safetensors"), b = dir.file("s.safetensors")
        #expect(try await CLI.run(["shadow", "--db", log, "--step", "8", "-o", a]).status == 0)
        #expect(try await CLI.run(["shadow", "--db", db, "--run", "r", "--step", "8", "-o", b]).status == 0)
        #expect(FileManager.default.contentsEqual(atPath: a, andPath: b))
    }

    /// A log pruned after its push: the next push leaves the run's raw weights out as the log
    /// does (re-writing the kept steps re-encoded after them); every reader on the server answers
    /// as the local log, refusals included, and a pull gives the same content back.
    @Test func aPrunedLogPrunesItsRunAndReadsTheSame() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir)
        let db = try await ThrowawayPostgres.database()
        #expect(try await push(log, db).status == 0)
        let pruned = try await CLI.run(["prune", "--db", log, "--raw-every", "5", "--raw-keep-last", "2"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        let again = try await push(log, db)
        #expect(again.status == 0, "\(again.stdout) \(again.stderr)")
        let server = ["--db", db, "--run", "r"], local = ["--db", log]
        #expect(try await digest(local) == (try digest(server)))
        for (i, query) in [["shadow", "--ema", "0.9", "--step", "10"], ["shadow", "--ema", "warm", "--step", "20"], ["raw", "--step", "15"],
                           ["raw", "--step", "23"], ["raw", "--step", "1"]].enumerated() {
            let a = dir.file("local-\(i).safetensors"), b = dir.file("server-\(i).safetensors")
            let ra = try await CLI.run(query + local + ["-o", a]), rb = try await CLI.run(query + server + ["-o", b])
            #expect(ra.status == 0 && rb.status == 0, "\(query): \(ra.stderr) \(rb.stderr)")
            #expect(FileManager.default.contentsEqual(atPath: a, andPath: b), "\(query): the server's output differs")
        }
        for query in [["raw", "--step", "7"], ["shadow", "--ema", "0.9", "--step", "12"]] {
            let ra = try await CLI.run(query + local + ["-o", dir.file("x.safetensors")])
            let rb = try await CLI.run(query + server + ["-o", dir.file("y.safetensors")])
            #expect(ra.status == 65 && rb.status == 65 && ra.stderr == rb.stderr, "\(query): \(ra.stderr) \(rb.stderr)")
        }
        let audit = try await CLI.run(["audit"] + server)
        #expect(audit.status == 0 && audit.stdout.contains("clean"), "\(audit.stdout) \(audit.stderr)")
        let copy = dir.file("pulled.emalog")
        #expect(try await CLI.run(["pull", "--db", db, "--run", "r", "-o", copy]).status == 0)
        #expect(try await digest(["--db", copy]) == (try digest(local)))
        // The bodies only the dropped steps named are collected, and nothing the run needs.
        let gc = try await CLI.run(["gc", "--db", db, "--grace", "0", "--format", "json"])
        #expect(gc.status == 0 && !gc.stdout.contains("\"bodies\":0,"), "\(gc.stdout) \(gc.stderr)")
        #expect(try await digest(server) == (try digest(local)))
        let gcAgain = try await CLI.run(["gc", "--db", db, "--grace", "0", "--format", "json"])
        #expect(gcAgain.status == 0 && gcAgain.stdout.contains("\"bodies\":0,"), "\(gcAgain.stdout)")
    }

    /// gc while pushes run: collections racing a push (of a run that shares the server with a
    /// pruned one) leave the push whole: the same content digest as its log.
    @Test func gcWhilePushesRunLeavesThemWhole() async throws {
        let dir = TemporaryDirectory()
        let pruned = try await makeLog(dir, "pruned.emalog")
        try SyntheticRun.write(steps: 1...30, parameters: 200_000, to: dir.file("big"))
        let big = dir.file("big.emalog")
        #expect(try await CLI.run(["ingest", "--db", big, "--ema", "0.9", "--snapshot-every", "10", dir.file("big")]).status == 0)
        let db = try await ThrowawayPostgres.database()
        #expect(try await push(pruned, db, run: "p").status == 0)
        #expect(try await CLI.run(["prune", "--db", pruned, "--raw-every", "5"]).status == 0)
        #expect(try await push(pruned, db, run: "p").status == 0)  // bodies of the dropped steps are now unnamed
        let pushing = try CLI.start(["push", "--db", big, "--to", db, "--run", "big"])
        var collections = 0
        while pushing.isRunning {
            let gc = try await CLI.run(["gc", "--db", db, "--grace", "60"])
            #expect(gc.status == 0, "\(gc.stderr)")
            collections += 1
        }
        let done = await pushing.wait()
        #expect(done.status == 0, "\(done.stderr)")
        #expect(try await digest(["--db", big]) == (try digest(["--db", db, "--run", "big"])), "after \(collections) collections")
        #expect(try await digest(["--db", pruned]) == (try digest(["--db", db, "--run", "p"])))
    }

    @Test func identicalChunksOfTwoRunsAreStoredOnce() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir, steps: 1...8)
        let db = try await ThrowawayPostgres.database()
        #expect(try await push(log, db, run: "first").status == 0)
        let bodies = await ThrowawayPostgres.sql(db, "SELECT 'bodies=' || count(*) FROM chunk_bodies").output
        let second = try await push(log, db, run: "second")
        #expect(second.status == 0 && second.stdout.contains("uploaded 0 chunk bodies"), "\(second.stdout)")
        #expect(await ThrowawayPostgres.sql(db, "SELECT 'bodies=' || count(*) FROM chunk_bodies").output == bodies)
        let side = try await CLI.run(["metrics", "--db", db, "--run", "first", "--run", "second", "--key", "loss", "--format", "csv"])
        #expect(side.status == 0 && side.stdout.hasPrefix("step,first:loss,second:loss\n"), "\(side.stdout) \(side.stderr)")
    }

    @Test func aKilledPushResumesToTheSameContent() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir)
        let db = try await ThrowawayPostgres.database()
        // Stopped with bodies uploaded but the step not committed, and just after a commit (a hook
        // that throws there, as a kill would stop it; random SIGKILLs follow).
        struct Stopped: Error {}
        for (item, phase) in [(0, PushHooks.Phase.staged), (3, .committed), (7, .staged), (12, .committed)] {
            let point = "\(item):\(phase)"
            var hooks = PushHooks()
            hooks.after = { at, reached in if at == item && reached == phase { throw Stopped() } }
            #expect(throws: Stopped.self, "\(point)") { try TeamStore.push(log: log, to: db, run: "r", hooks: hooks) }
            // What was committed is a readable prefix of the log.
            let audit = try await CLI.run(["audit", "--db", db, "--run", "r"])
            #expect(audit.status == 0 && audit.stdout.contains("clean"), "\(point): \(audit.stdout) \(audit.stderr)")
            // `runs` lists what is there: the tensors and tracks (the steps move with each commit).
            let runs = try await CLI.run(["runs", "--db", db, "--format", "json"])
            #expect(runs.stdout.contains("\"tensors\":12,") && runs.stdout.contains("\"tracks\":2,"), "\(point): \(runs.stdout)")
        }
        let resumed = try await push(log, db)
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try await digest(["--db", log]) == (try digest(["--db", db, "--run", "r"])))
        #expect(try await push(log, db).stdout.contains("up to date"))
    }

    /// `emalog push` killed with SIGKILL at random moments, then the same command: the run's content
    /// is the log's (the long form of this trial is in `emalog-bench --only team`).
    @Test func sigkillDuringAPushThenTheSameCommand() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir)
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<3 {
            let db = try await ThrowawayPostgres.database()
            let running = try CLI.start(["push", "--db", log, "--to", db, "--run", "r"])
            try await Task.sleep(nanoseconds: UInt64.random(in: 20_000_000...400_000_000, using: &generator))
            kill(running.pid, SIGKILL)
            _ = await running.wait()
            let resumed = try await push(log, db)
            #expect(resumed.status == 0, "trial \(trial): \(resumed.stderr)")
            #expect(try await digest(["--db", log]) == (try digest(["--db", db, "--run", "r"])), "trial \(trial)")
            let audit = try await CLI.run(["audit", "--db", db, "--run", "r"])
            #expect(audit.status == 0 && audit.stdout.contains("clean"), "trial \(trial): \(audit.stdout)")
        }
    }

    @Test func refusalsNameWhatToDo() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir, steps: 1...4)
        let db = try await ThrowawayPostgres.database()
        #expect(try await push(log, db).status == 0)
        let other = try await makeLog(dir, "other.emalog", steps: 1...4)
        let taken = try await push(other, db)
        #expect(taken.status == 65 && taken.stderr.contains("another log") && taken.stderr.contains("another run name"), "\(taken.stderr)")
        let missing = try await CLI.run(["shadow", "--db", db, "--run", "nope", "-o", dir.file("x.safetensors")])
        #expect(missing.status == 66 && missing.stderr.contains("no run 'nope'") && missing.stderr.contains("its runs are r"), "\(missing.stderr)")
        let unnamed = try await CLI.run(["info", "--db", db])
        #expect(unnamed.status == 66 && unnamed.stderr.contains("--run NAME"), "\(unnamed.stderr)")
        let runOnAFile = try await CLI.run(["info", "--db", log, "--run", "r"])
        #expect(runOnAFile.status == 64)
        let ingest = try await CLI.run(["ingest", "--db", db, "--run", "r", steps])
        #expect(ingest.status == 64 && ingest.stderr.contains("push"), "\(ingest.stderr)")
        let toAFile = try await CLI.run(["push", "--db", log, "--to", log])
        #expect(toAFile.status == 64)
        #expect(!FileManager.default.fileExists(atPath: dir.file("x.safetensors")))
    }
}

extension TeamPushTests {
    @Test func aPulledLogIsTheRun() async throws {
        let dir = TemporaryDirectory()
        let log = try await makeLog(dir, steps: 1...10)
        let db = try await ThrowawayPostgres.database()
        #expect(try await push(log, db).status == 0)
        let copy = dir.file("pulled.emalog")
        let pulled = try await CLI.run(["pull", "--db", db, "--run", "r", "-o", copy])
        #expect(pulled.status == 0 && pulled.stdout.contains("10 steps"), "\(pulled.stdout) \(pulled.stderr)")
        #expect(try await digest(["--db", copy]) == (try digest(["--db", log])))
        let audit = try await CLI.run(["audit", "--db", copy])
        #expect(audit.status == 0 && audit.stdout.contains("clean"), "\(audit.stdout)")
        // The copy is the same log: pushing it changes nothing.
        #expect(try await push(copy, db).stdout.contains("up to date"))
        let again = try await CLI.run(["pull", "--db", db, "--run", "r", "-o", copy])
        #expect(again.status == 64 && again.stderr.contains("exists"), "\(again.stderr)")
        let missing = try await CLI.run(["pull", "--db", db, "--run", "nope", "-o", dir.file("none.emalog")])
        #expect(missing.status == 66 && !FileManager.default.fileExists(atPath: dir.file("none.emalog")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.contains(".pull-") })
    }
}

extension TeamPushTests {
    /// Splits each step file of `source` into `ranks` files as FSDP2 shards parameters: rank r
    /// holds dim-0 rows [r·c, (r+1)·c) with c = ceil(rows / ranks) (so late ranks may hold fewer,
    /// or none); 0-d tensors are whole on every rank.
    static func shard(_ source: String, ranks: Int, into folder: (Int) -> String) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: source).sorted() where name.hasSuffix(".safetensors") {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source + "/" + name)))
            let header = try bytes.withUnsafeBytes { raw in
                let length = try Safetensors.headerLength(prefix: UnsafeRawBufferPointer(rebasing: raw[0..<8]), fileSize: raw.count)
                return try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: raw[8..<(8 + length)]), fileSize: raw.count)
            }
            var builders = (0..<ranks).map { _ in SafetensorsBuilder() }
            for r in builders.indices { builders[r].metadata = header.metadata }
            for t in header.tensors {
                let data = Array(bytes[(header.dataOffset + t.byteRange.lowerBound)..<(header.dataOffset + t.byteRange.upperBound)])
                guard let rows = t.shape.first else {
                    for r in builders.indices { builders[r].add(t.name, dtype: t.dtype, shape: [], bytes: data) }
                    continue
                }
                let rowBytes = rows == 0 ? 0 : data.count / rows
                let per = (rows + ranks - 1) / ranks
                for r in builders.indices {
                    let lo = min(rows, r * per), hi = min(rows, (r + 1) * per)
                    builders[r].add(t.name, dtype: t.dtype, shape: [hi - lo] + t.shape.dropFirst(), bytes: Array(data[(lo * rowBytes)..<(hi * rowBytes)]))
                }
            }
            for r in builders.indices {
                try FileManager.default.createDirectory(atPath: folder(r), withIntermediateDirectories: true)
                try builders[r].write(to: folder(r) + "/" + name)
            }
        }
    }

    @Test func aShardedRunReadsAsTheUnshardedRun() async throws {
        let dir = TemporaryDirectory()
        let full = try await makeLog(dir, steps: 1...14)
        try Self.shard(dir.file("run.emalog-steps"), ranks: 4) { dir.file("rank\($0)-steps") }
        let db = try await ThrowawayPostgres.database()
        for rank in 0..<4 {
            let log = dir.file("rank\(rank).emalog")
            let ingest = try await CLI.run(["ingest", "--db", log, "--ema", "0.9", "--ema", "name=warm,decay=0.99,schedule=warmup",
                                      "--snapshot-every", "5", dir.file("rank\(rank)-steps")] + (rank == 0 ? [metrics] : []))
            #expect(ingest.status == 0, "\(ingest.stderr)")
            if rank < 3 {
                let pushed = try await CLI.run(["push", "--db", log, "--to", db, "--run", "big", "--rank", String(rank), "--ranks", "4"])
                #expect(pushed.status == 0 && pushed.stdout.contains("run 'big/rank\(rank)'"), "\(pushed.stdout) \(pushed.stderr)")
            }
        }
        // Three of four ranks: the run is not whole yet.
        let partial = try await CLI.run(["shadow", "--db", db, "--run", "big", "-o", dir.file("partial.safetensors")])
        #expect(partial.status == 66 && partial.stderr.contains("rank 0, rank 1, rank 2"), "\(partial.stderr)")
        // Rank 0's log pushed again as rank 3 would read back doubled: refused.
        let twice = try await CLI.run(["push", "--db", dir.file("rank0.emalog"), "--to", db, "--run", "big", "--rank", "3", "--ranks", "4"])
        #expect(twice.status == 65 && twice.stderr.contains("this log was pushed as rank 0 of 'big'"), "\(twice.stderr)")
        #expect(try await CLI.run(["push", "--db", dir.file("rank3.emalog"), "--to", db, "--run", "big", "--rank", "3", "--ranks", "4"]).status == 0)

        for (i, query) in [["shadow", "--ema", "0.9"], ["shadow", "--ema", "warm", "--step", "12"], ["shadow", "--decay", "0.95", "--step", "7"],
                           ["shadow", "--ema", "0.9", "--dtype", "param"], ["raw", "--step", "9"]].enumerated() {
            let a = dir.file("full-\(i).safetensors"), b = dir.file("sharded-\(i).safetensors")
            let ra = try await CLI.run(query + ["--db", full, "-o", a]), rb = try await CLI.run(query + ["--db", db, "--run", "big", "-o", b])
            #expect(ra.status == 0 && rb.status == 0, "\(query): \(ra.stderr) \(rb.stderr)")
            // The same tensors bit for bit; only the metadata's log id differs.
            #expect(try Self.tensorBytes(a) == (try Self.tensorBytes(b)), "\(query)")
        }
        let sweep = try await CLI.run(["sweep", "--db", db, "--run", "big", "--decays", "0.9,0.99", "-o", dir.file("sweep")])
        #expect(sweep.status == 0, "\(sweep.stderr)")
        let info = try await CLI.run(["info", "--db", db, "--run", "big"])
        #expect(info.status == 0 && info.stdout.contains("ranks        4"), "\(info.stdout) \(info.stderr)")
        let digest = try await CLI.run(["info", "--db", db, "--run", "big", "--digest"])
        #expect(digest.status == 64 && digest.stderr.contains("big/rank0"), "\(digest.stderr)")
        #expect(try await CLI.run(["info", "--db", db, "--run", "big/rank2"]).status == 0)
        let metricsOfRank0 = try await CLI.run(["metrics", "--db", db, "--run", "big", "--key", "loss", "--format", "csv"])
        let metricsOfFull = try await CLI.run(["metrics", "--db", full, "--key", "loss", "--format", "csv"])
        #expect(metricsOfRank0.status == 0 && metricsOfRank0.stdout == metricsOfFull.stdout)
        let wrongCount = try await CLI.run(["push", "--db", dir.file("rank3.emalog"), "--to", db, "--run", "big", "--rank", "3", "--ranks", "8"])
        #expect(wrongCount.status == 65 && wrongCount.stderr.contains("4 ranks"), "\(wrongCount.stderr)")
    }

    @Test func aFolderOfRankLogsIsPushedAsOneShardedRun() async throws {
        let dir = TemporaryDirectory()
        let full = try await makeLog(dir)
        try ShardedFolderTests.split(steps, into: { dir.file("rank\($0)-steps") })
        let folder = dir.file("ckpt")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try await ShardedFolderTests().ingestRanks(dir, folder: folder)
        let db = try await ThrowawayPostgres.database()
        let pushed = try await CLI.run(["push", "--db", folder, "--to", db])
        #expect(pushed.status == 0 && pushed.stdout.contains("run 'ckpt/rank3'"), "\(pushed.stdout) \(pushed.stderr)")
        for (i, query) in [["shadow", "--ema", "warm"], ["shadow", "--decay", "0.95", "--step", "7"], ["raw", "--step", "9"]].enumerated() {
            let a = dir.file("full-\(i).safetensors"), b = dir.file("server-\(i).safetensors")
            let ra = try await CLI.run(query + ["--db", full, "-o", a]), rb = try await CLI.run(query + ["--db", db, "--run", "ckpt", "-o", b])
            #expect(ra.status == 0 && rb.status == 0, "\(query): \(ra.stderr) \(rb.stderr)")
            let local = try ShardedFolderTests.tensors(a), server = try ShardedFolderTests.tensors(b)
            #expect(local.count == 12 && local == server, "\(query)")
        }
        let again = try await CLI.run(["push", "--db", folder, "--to", db, "--format", "json"])
        #expect(again.status == 0 && again.stdout.hasPrefix("[") && !again.stdout.contains("\"up_to_date\":false"), "\(again.stdout)")
    }

    /// Each tensor's name, dtype, shape and bytes in a safetensors file (its metadata left out).
    static func tensorBytes(_ path: String) throws -> [String] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try bytes.withUnsafeBytes { raw in
            let length = try Safetensors.headerLength(prefix: UnsafeRawBufferPointer(rebasing: raw[0..<8]), fileSize: raw.count)
            return try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: raw[8..<(8 + length)]), fileSize: raw.count)
        }
        return header.tensors.map { t in
            "\(t.name) \(t.dtype.rawValue) \(t.shape) " + bytes[(header.dataOffset + t.byteRange.lowerBound)..<(header.dataOffset + t.byteRange.upperBound)]
                .map { String($0, radix: 16) }.joined()
        }
    }
}
