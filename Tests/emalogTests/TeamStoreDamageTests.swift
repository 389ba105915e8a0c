import EMALogTestSupport
import Foundation
import Testing

/// Bytes changed on the server behind emalog's back: a chunk body (shared by hash between runs)
/// or a metric block's data. Readers, audit and pull refuse them; no push spreads a damaged body
/// to another run; a push mends them.
@Suite(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1: the team-store tests are skipped"))
struct TeamStoreDamageTests {
    let base = TeamPushTests()

    /// Flips one bit of the first byte of the body of a chunk of `run`'s step `step`.
    func damageBody(_ db: String, run: String, step: Int) {
        let r = ThrowawayPostgres.sql(db, """
            UPDATE chunk_bodies SET body = set_byte(body, 0, get_byte(body, 0) # 1) WHERE sha256 = (
                SELECT c.sha256 FROM run_chunks c JOIN runs r ON r.id = c.run_id
                WHERE r.name = '\(run)' AND c.step = \(step) ORDER BY c.tensor_id, c.chunk_index LIMIT 1)
            """)
        #expect(r.status == 0, "\(r.output)")
    }

    func audit(_ db: String, run: String) async throws -> CLI.Result { try await CLI.run(["audit", "--db", db, "--run", run]) }

    @Test func aDamagedBodyIsFoundNeverReusedAndRepaired() async throws {
        let dir = TemporaryDirectory()
        let log = try await base.makeLog(dir, steps: 1...8)
        let db = try await ThrowawayPostgres.database()
        #expect(try await base.push(log, db, run: "a").status == 0)
        damageBody(db, run: "a", step: 3)

        let found = try await audit(db, run: "a")
        #expect(found.status == 1 && found.stdout.contains("not the bytes its sha256 names") && found.stdout.contains("--repair"),
                "\(found.stdout) \(found.stderr)")
        let raw = try await CLI.run(["raw", "--db", db, "--run", "a", "--step", "3", "-o", dir.file("raw.safetensors")])
        #expect(raw.status == 74 && !FileManager.default.fileExists(atPath: dir.file("raw.safetensors")), "\(raw.stderr)")
        // A pull copies stored bytes without decoding them: it checks each body's hash.
        let pulled = try await CLI.run(["pull", "--db", db, "--run", "a", "-o", dir.file("pulled.emalog")])
        #expect(pulled.status == 74 && pulled.stderr.contains("sha256"), "\(pulled.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix("pulled.emalog") })

        // The same log as another run: the damaged body is written again, not reused (and with
        // it run a, which shares it, reads true again).
        let second = try await base.push(log, db, run: "b")
        #expect(second.status == 0 && second.stdout.contains("repaired 1 damaged chunk bodies"), "\(second.stdout) \(second.stderr)")
        for run in ["a", "b"] {
            let clean = try await audit(db, run: run)
            #expect(clean.status == 0 && clean.stdout.contains("clean"), "\(run): \(clean.stdout)")
            #expect(try await base.digest(["--db", db, "--run", run]) == (try base.digest(["--db", log])), "\(run)")
        }

        // Damaged again: a plain push does not read what it pushed; --repair has the server hash it all.
        damageBody(db, run: "a", step: 7)
        #expect(try await base.push(log, db, run: "a").stdout.contains("up to date"))
        let repaired = try await CLI.run(["push", "--db", log, "--to", db, "--run", "a", "--repair"])
        #expect(repaired.status == 0 && repaired.stdout.contains("repaired 1 damaged chunk bodies"), "\(repaired.stdout) \(repaired.stderr)")
        #expect(try await audit(db, run: "a").status == 0)
        #expect(try await base.digest(["--db", db, "--run", "a"]) == (try base.digest(["--db", log])))
        let again = try await CLI.run(["push", "--db", log, "--to", db, "--run", "a", "--repair"])
        #expect(again.status == 0 && again.stdout.contains("up to date"), "\(again.stdout)")
    }

    @Test func aChangedMetricValueIsFoundAndPushedAgain() async throws {
        let dir = TemporaryDirectory()
        let log = try await base.makeLog(dir, steps: 1...8)
        let db = try await ThrowawayPostgres.database()
        #expect(try await base.push(log, db, run: "a").status == 0)
        let local = try await CLI.run(["metrics", "--db", log, "--key", "loss", "--format", "csv"])
        #expect(local.status == 0)
        // One flipped bit in a value's bytes (the 9th byte: the first value's low byte), the xxh64 column left alone.
        let changed = await ThrowawayPostgres.sql(db, """
            UPDATE run_metric_blocks SET data = set_byte(data, 8, get_byte(data, 8) # 1)
            WHERE run_id = (SELECT id FROM runs WHERE name = 'a') AND key_id = (
                SELECT id FROM run_metric_keys WHERE name = 'loss' AND run_id = (SELECT id FROM runs WHERE name = 'a'))
            """)
        #expect(changed.status == 0, "\(changed.output)")

        let read = try await CLI.run(["metrics", "--db", db, "--run", "a", "--key", "loss", "--format", "csv"])
        #expect(read.status == 74 && read.stderr.contains("xxh64"), "\(read.stdout) \(read.stderr)")
        let found = try await audit(db, run: "a")
        #expect(found.status == 1 && found.stdout.contains("metric block"), "\(found.stdout)")
        let pulled = try await CLI.run(["pull", "--db", db, "--run", "a", "-o", dir.file("pulled.emalog")])
        #expect(pulled.status == 74 && !FileManager.default.fileExists(atPath: dir.file("pulled.emalog")), "\(pulled.stderr)")

        let pushed = try await base.push(log, db, run: "a")
        #expect(pushed.status == 0 && pushed.stdout.contains("1 metric blocks"), "\(pushed.stdout) \(pushed.stderr)")
        let mended = try await CLI.run(["metrics", "--db", db, "--run", "a", "--key", "loss", "--format", "csv"])
        #expect(mended.status == 0 && mended.stdout == local.stdout, "\(mended.stdout)")
        #expect(try await audit(db, run: "a").status == 0)
    }
}
