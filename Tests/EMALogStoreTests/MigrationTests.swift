import EMALogStore
import EMALogSQLite
import EMALogTestSupport
import Foundation
import GRDB
import Testing

@Suite struct MigrationTests {
    @Test func embeddedMigrationsMatchTheSQLFiles() throws {
        let folder = Fixtures.packageRoot + "/migrations"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(Migrations.identifiers == files.map { String($0.dropLast(4)) },
                "run scripts/embed-migrations.sh after changing migrations/")
        for (file, migration) in zip(files, Migrations.all) {
            let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
            #expect(migration.sql + "\n" == text, "run scripts/embed-migrations.sh: \(file) changed")
        }
    }

    @Test func newLogHasLargePagesWALAndTheSchema() throws {
        let dir = TemporaryDirectory()
        let store = try SQLiteLogStore.openForWriting(at: dir.file("a.emalog"))
        try store.close()
        let queue = try DatabaseQueue(path: dir.file("a.emalog"))
        try queue.read { db in
            #expect(try Int.fetchOne(db, sql: "PRAGMA page_size") == SQLiteLogStore.pageSize)
            #expect(try String.fetchOne(db, sql: "PRAGMA journal_mode") == "wal")
            #expect(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations") == Migrations.identifiers)
            let loose = try String.fetchAll(db, sql: """
                SELECT name FROM pragma_table_list WHERE schema = 'main' AND strict = 0
                AND name NOT LIKE 'sqlite_%' AND name != 'grdb_migrations'
                """)
            #expect(loose == [], "every emalog table is STRICT")
            #expect(try Int.fetchOne(db, sql: "PRAGMA foreign_keys") == 1)
        }
    }

    /// A reader can catch a log between its schema and its log_info (two transactions): without
    /// chunks it reads with the default chunk size; with chunks it refuses rather than guess.
    @Test func aMissingChunkSizeIsToleratedOnlyWithoutChunks() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("a.emalog")
        try SQLiteLogStore.openForWriting(at: path, chunkBytes: 1024).close()
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "DELETE FROM log_info WHERE key = 'chunk_bytes'") }
        #expect(try SQLiteLogStore.openForReading(at: path).layout.chunkBytes == ChunkLayout.defaultChunkBytes)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.execute(sql: """
                INSERT INTO chunks (step, tensor_id, chunk_index, codec, raw_size, xxh64, data) VALUES (1, 1, 0, 'plain', 0, 0, x'')
                """)
        }
        try queue.close()
        #expect(throws: StoreError.self) { try SQLiteLogStore.openForReading(at: path) }
    }

    @Test func aLogFromANewerEmalogIsRefusedUntouched() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("a.emalog")
        try SQLiteLogStore.openForWriting(at: path).close()
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('9999_future')") }
        _ = try queue.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        try queue.close()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(throws: StoreError.newerSchema(path: path, unknown: ["9999_future"])) { try SQLiteLogStore.openForReading(at: path) }
        #expect(throws: StoreError.newerSchema(path: path, unknown: ["9999_future"])) { try SQLiteLogStore.openForWriting(at: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect("\(StoreError.newerSchema(path: path, unknown: ["9999_future"]))".contains("upgrade emalog"))
    }

    @Test func aFileThatIsNotSQLiteIsRefusedUntouched() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("notes.emalog")
        let content = Data("hello, this is not a database at all".utf8)
        try content.write(to: URL(fileURLWithPath: path))
        #expect(throws: StoreError.notALog(path: path, reason: "not an SQLite database")) { try SQLiteLogStore.openForWriting(at: path) }
        #expect(throws: StoreError.notALog(path: path, reason: "not an SQLite database")) { try SQLiteLogStore.openForReading(at: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == content)
    }

    @Test func aForeignSQLiteDatabaseIsRefused() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("other.db")
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in try db.execute(sql: "CREATE TABLE t (x)") }
        try queue.close()
        #expect(throws: StoreError.notALog(path: path, reason: "an SQLite database without the emalog schema")) {
            try SQLiteLogStore.openForWriting(at: path)
        }
    }

    @Test func aMissingLogIsNotFoundForReading() {
        #expect(throws: StoreError.logNotFound(path: "/nonexistent/x.emalog")) { try SQLiteLogStore.openForReading(at: "/nonexistent/x.emalog") }
    }

    @Test func oneIngestLockAtATime() throws {
        let dir = TemporaryDirectory()
        let first = try IngestLock(path: dir.file("a.emalog"))
        #expect(throws: StoreError.busy(path: dir.file("a.emalog"))) { try IngestLock(path: dir.file("a.emalog")) }
        _ = first
    }
}
