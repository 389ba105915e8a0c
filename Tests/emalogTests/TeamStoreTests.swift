#if canImport(Glibc)
import Glibc
#endif
import EMALogPostgres
import EMALogTestSupport
import Foundation
import Testing

/// The team store's first part: addresses, the server's own schema (migrations applied in order,
/// recorded, a newer one refused) and `emalog runs`, against a real throwaway PostgreSQL.
@Suite(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1: the team-store tests are skipped"))
struct TeamStoreTests {
    @Test func embeddedServerMigrationsMatchTheSQLFiles() async throws {
        let folder = Fixtures.packageRoot + "/migrations-server"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(ServerMigrations.identifiers == files.map { String($0.dropLast(4)) }, "run scripts/embed-migrations.sh")
        for (file, migration) in zip(files, ServerMigrations.all) {
            #expect(migration.sql + "\n" == (try String(contentsOfFile: folder + "/" + file, encoding: .utf8)), "\(file) changed")
        }
    }

    @Test func addressesAreParsedAndPasswordsNeverShown() async throws {
        let url = try ServerURL("postgresql://me:s%40cret@db.lab:6543/runs", environment: [:])
        #expect(url.user == "me" && url.password == "s@cret" && url.host == "db.lab" && url.port == 6543 && url.database == "runs")
        #expect(url.description == "postgresql://me@db.lab:6543/runs")
        #expect(try ServerURL("postgres://me@h/d", environment: ["PGPASSWORD": "p"]).password == "p")
        #expect(try ServerURL("postgres://me@h/d", environment: [:]).port == 5432)
        for bad in ["postgresql://h/d", "postgresql://me@/d", "postgresql://me@h", "postgresql://me@h:0/d", "http://me@h/d"] {
            #expect(throws: (any Error).self, "\(bad)") { _ = try ServerURL(bad, environment: [:]) }
        }
        let r = try await CLI.run(["runs", "--db", "postgresql://me:topsecret@127.0.0.1/"])
        #expect(r.status == 64 && r.stderr.contains("no database") && !r.stderr.contains("topsecret"), "\(r.stderr)")
    }

    @Test func theSchemaIsAppliedOnceAndRecorded() async throws {
        let db = try await ThrowawayPostgres.database()
        let first = try TeamServer(db)
        #expect(first.migratedNow == ServerMigrations.identifiers)
        #expect(try first.appliedMigrations() == ServerMigrations.identifiers)
        #expect(try first.runs().isEmpty)
        first.close()
        let again = try TeamServer(db)
        #expect(again.migratedNow.isEmpty)
        again.close()
        let r = try await CLI.run(["runs", "--db", db])
        #expect(r.status == 0 && r.stdout == "no runs yet\n", "\(r.stderr)")
        let json = try await CLI.run(["runs", "--db", db, "--format", "json"])
        #expect(json.status == 0 && json.stdout.isEmpty)
    }

    @Test func aRunIsListedAndANewerSchemaIsRefused() async throws {
        let db = try await ThrowawayPostgres.database()
        try TeamServer(db).close()
        let insert = await ThrowawayPostgres.sql(db,
            "INSERT INTO runs (name, log_id, chunk_bytes, created_at, pushed_at) VALUES ('base', 'abc', 1024, 'x', '2026-12-01T10:00:00Z')")
        #expect(insert.status == 0, "\(insert.output)")
        let r = try await CLI.run(["runs", "--db", db])
        #expect(r.status == 0 && r.stdout == """
            run   steps  last step  tensors  tracks  size  metric values  pushed                log id
            base  0      -          0        0       0 B   0              2026-12-01T10:00:00Z  abc

            """, "\(r.stdout)")
        let json = try await CLI.run(["runs", "--db", db, "--format", "json"])
        #expect(json.stdout == "{\"name\":\"base\",\"log_id\":\"abc\",\"pushed_at\":\"2026-12-01T10:00:00Z\",\"steps\":0,"
            + "\"last_step\":null,\"tensors\":0,\"tracks\":0,\"stored_bytes\":0,\"metric_values\":0}\n", "\(json.stdout)")

        #expect(await ThrowawayPostgres.sql(db, "INSERT INTO emalog_migrations (identifier) VALUES ('9999_future')").status == 0)
        let newer = try await CLI.run(["runs", "--db", db])
        #expect(newer.status == 74 && newer.stderr.contains("newer emalog") && newer.stderr.contains("9999_future"), "\(newer.stderr)")
    }

    @Test func anUnreachableServerAndReadersWithoutARunAreClearErrors() async throws {
        let r = try await CLI.run(["runs", "--db", "postgresql://emalog@127.0.0.1:1/emalog"])
        #expect(r.status == 74 && r.stderr.contains("cannot connect"), "\(r.stderr)")
        // A push names a missing log before it tries the server.
        let missing = try await CLI.run(["push", "--db", "/nonexistent/run.emalog", "--to", "postgresql://emalog@127.0.0.1:1/emalog"])
        #expect(missing.status == 66 && missing.stderr.contains("no log at"), "\(missing.stderr)")
        let db = try await ThrowawayPostgres.database()
        for args in [["info", "--db", db], ["metrics", "--db", db], ["plot", "--db", db, "-o", "-"]] {
            let reader = try await CLI.run(args)
            #expect(reader.status == 66 && reader.stderr.contains("emalog runs") && reader.stderr.contains("no runs yet"),
                    "\(args): \(reader.stderr)")
        }
        let notServer = try await CLI.run(["runs", "--db", "run.emalog"])
        #expect(notServer.status == 64)
    }
}

extension TeamStoreTests {
    /// The throwaway server outlives the script that starts it: it must hold none of the caller's
    /// descriptors, or a test reading a pipe to end-of-file waits for the server to stop (the suite
    /// once hung in CI that way).
    @Test func theThrowawayServerHoldsNoneOfItsCallersDescriptors() async throws {
        // Close-on-exec, and handed to the script alone (as descriptor 100): programs other tests
        // spawn meanwhile must not hold it.
        let fds = try #require(Spawn.closeOnExecPipe())
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-pg-fd-\(getpid())").path
        let script = Fixtures.packageRoot + "/scripts/postgres-throwaway.sh"
        let started = await Spawn.run(script, ["start", folder], passing: fds[1])
        defer { _ = Spawn.run(script, ["stop", folder]) }
        #expect(started.status == 0, "\(started.output)")
        close(fds[1])
        var poller = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, 5000) == 1
        #expect(ready, "the pipe's write end is still open somewhere")
        var byte: UInt8 = 0
        if ready { #expect(read(fds[0], &byte, 1) == 0, "end-of-file expected") }
        close(fds[0])
    }

    /// Every wait for the server is bounded: a statement blocked behind another session's lock
    /// ends after the address's timeout with 74 and what to do, instead of waiting for ever.
    @Test func aBlockedServerIsAnErrorWithinTheTimeout() async throws {
        let db = try await ThrowawayPostgres.database()
        try TeamServer(db).close()
        let release = try await Self.holdLock(db, "BEGIN; LOCK TABLE runs IN ACCESS EXCLUSIVE MODE",
                                        held: "relation = 'runs'::regclass AND mode = 'AccessExclusiveLock'")
        defer { release() }
        let started = Date()
        let r = try await CLI.run(["runs", "--db", db + "?timeout=1.5"])
        #expect(r.status == 74 && r.stderr.contains("no answer within 1.5 s") && r.stderr.contains("?timeout=SECONDS"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 25)  // not the 60 s default
        let bad = try await CLI.run(["runs", "--db", db + "?timeout=soon"])
        #expect(bad.status == 64 && bad.stderr.contains("timeout= soon is not a number of seconds"), "\(bad.stderr)")
    }

    /// Readers never write to the server: a role that may only SELECT lists the runs and reads a
    /// run; a database emalog never wrote holds no runs (and stays without a table).
    @Test func aReadOnlyRoleCanReadAndReadersWriteNothing() async throws {
        let bare = try await ThrowawayPostgres.database()
        let listed = try await CLI.run(["runs", "--db", bare])
        #expect(listed.status == 0 && listed.stdout == "no runs yet\n", "\(listed.stderr)")
        #expect(await ThrowawayPostgres.sql(bare, "SELECT to_regclass('emalog_migrations') IS NULL").output.contains("t"))
        let db = try await ThrowawayPostgres.database()
        let dir = TemporaryDirectory()
        let log = dir.file("run.emalog")
        #expect(try await CLI.run(["ingest", "--db", log, "--ema", "0.9", Fixtures.path("mlp-f32/steps")]).status == 0)
        let pushed = try await CLI.run(["push", "--db", log, "--to", db, "--run", "base"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let name = String(db[db.index(after: db.lastIndex(of: "/")!)...])
        let role = "reader_\(name)"
        for statement in ["CREATE ROLE \(role) LOGIN PASSWORD 'pw'", "GRANT CONNECT ON DATABASE \(name) TO \(role)",
                          "GRANT USAGE ON SCHEMA public TO \(role)", "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \(role)"] {
            let r = await ThrowawayPostgres.sql(db, statement)
            #expect(r.status == 0, "\(statement): \(r.output)")
        }
        let url = try ServerURL(db, environment: [:])
        let reader = "postgresql://\(role):pw@\(url.host):\(url.port)/\(url.database)"
        let runs = try await CLI.run(["runs", "--db", reader])
        #expect(runs.status == 0 && runs.stdout.contains("base"), "\(runs.stderr)")
        let out = dir.file("s.safetensors")
        let shadow = try await CLI.run(["shadow", "--db", reader, "--run", "base", "-o", out])
        #expect(shadow.status == 0, "\(shadow.stderr)")
        let push = try await CLI.run(["push", "--db", log, "--to", reader, "--run", "other"])
        #expect(push.status == 74, "a read-only role cannot push: \(push.stderr)")
    }

    /// Passwords: a mistyped scheme is a usage error that hides the password (never a file path
    /// echoed whole); an address with a password is warned about (ps shows it); ~/.pgpass, as
    /// libpq reads it, gives the password instead.
    @Test func passwordsStayOffTheCommandLineAndOutOfMessages() async throws {
        for bad in ["POSTGRESQL-x://me:topsecret@h/d", "postgresql:/me:topsecret@h/d", "postgresql+psycopg2://me:topsecret@h/d",
                    "pgsql://me:topsecret@h/d"] {
            let r = try await CLI.run(["info", "--db", bad])
            #expect(r.status == 64 && r.stderr.contains("postgresql://") && !r.stderr.contains("topsecret"), "\(bad): \(r.stderr)")
        }
        #expect(try ServerURL("POSTGRESQL://me@h/d", environment: [:]).host == "h")
        let db = try await ThrowawayPostgres.database()
        let warned = try await CLI.run(["runs", "--db", db.replacingOccurrences(of: "://", with: "://postgres:anything@")])
        #expect(warned.stderr.contains("warning: a password in a server address is visible"), "\(warned.stderr)")
        let dir = TemporaryDirectory()
        let file = dir.file("pgpass")
        let url = try ServerURL(db, environment: [:])
        try "# comment\nother:1:*:*:wrong\n\(url.host):\(url.port):*:\(url.user):s\\:cret\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o600)
        #expect(try ServerURL(db, environment: ["PGPASSFILE": file]).password == "s:cret")
        chmod(file, 0o644)  // readable by others: ignored, as libpq does
        #expect(try ServerURL(db, environment: ["PGPASSFILE": file]).password == nil)
    }

    /// A run's push lock is 64 bits of its name: run-140366 and run-178447, whose 32-bit hashtext
    /// collide, no longer wait for each other.
    @Test func runsWhoseHashtextCollidesDoNotBlockEachOther() async throws {
        let db = try await ThrowawayPostgres.database()
        #expect(await ThrowawayPostgres.sql(db, "SELECT hashtext('run-140366') = hashtext('run-178447')").output.contains("t"))
        let dir = TemporaryDirectory()
        let log = dir.file("run.emalog")
        #expect(try await CLI.run(["ingest", "--db", log, "--ema", "0.9", Fixtures.path("mlp-f32/steps")]).status == 0)
        let key = "('x' || substr(md5('run-140366'), 1, 16))::bit(64)::bigint"
        let release = try await Self.holdLock(db, "SELECT pg_advisory_lock(\(key))", held: "locktype = 'advisory'")
        defer { release() }
        let started = Date()
        let pushed = try await CLI.run(["push", "--db", log, "--to", db, "--run", "run-178447"])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        #expect(Date().timeIntervalSince(started) < 25, "the push waited for another run's lock (30 s)")
    }

    /// Another session runs `lockSQL` then sleeps (300 s at most) holding what it locked; returns
    /// once `pg_locks` shows a granted lock matching `held` in this test's database (other tests hold
    /// locks on tables of the same OIDs in theirs), with what ends that session.
    static func holdLock(_ db: String, _ lockSQL: String, held: String) async throws -> () -> Void {
        let holder = try #require(Spawn.start("/usr/bin/psql", [db, "-c", "\(lockSQL); SELECT pg_sleep(300);"]))
        let deadline = Date().addingTimeInterval(60)
        let granted = """
            SELECT 'held' FROM pg_locks WHERE \(held) AND granted
            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """
        var isHeld = false
        while !isHeld && Date() < deadline {
            isHeld = await ThrowawayPostgres.sql(db, granted).output.contains("held")
            if !isHeld { try await Task.sleep(nanoseconds: 20_000_000) }
        }
        #expect(isHeld, "the lock holder did not get its lock within 60 s")
        return {
            // The server session first: psql waits for its statement to end before it exits.
            _ = ThrowawayPostgres.sql(db, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                + "WHERE datname = current_database() AND query LIKE '%pg_sleep(300)%' AND pid <> pg_backend_pid()")
            kill(holder, SIGTERM)
            _ = Spawn.wait(holder)
        }
    }
}
