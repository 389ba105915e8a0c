import EMALogStore
import Foundation
import GRDB

/// The schema history: the SQL files of `migrations/`, embedded at build time, applied in order.
public enum Migrations {
    /// Identifiers of every migration this build knows, in order.
    public static var identifiers: [String] { embedded.map(\.identifier) }

    /// Readers open a log with at least this many migrations applied, as it is (they never write):
    /// a later migration that only adds an index leaves an older log readable, only slower until an
    /// ingest upgrades it. Raise this when a migration changes what readers read.
    public static let readableFrom = 1

    /// The SQL of each migration, by identifier (for tests and `info`).
    public static var all: [(identifier: String, sql: String)] { embedded }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        for migration in embedded {
            migrator.registerMigration(migration.identifier) { db in
                try db.execute(sql: migration.sql)
            }
        }
        return migrator
    }

    /// Creates a new log's whole schema in one transaction, as the migrator would one migration
    /// at a time (the same `grdb_migrations` table and rows), with the log's identity: a reader
    /// sees an empty file or a complete log, never a schema half-way.
    static func createSchema(_ queue: DatabaseQueue, chunkBytes: Int) throws {
        try queue.inTransaction { db in
            try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
            for migration in embedded {
                try db.execute(sql: migration.sql)
                try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [migration.identifier])
            }
            try db.execute(sql: """
                INSERT INTO log_info (key, value) VALUES ('log_id', ?), ('created_at', ?), ('chunk_bytes', ?)
                """, arguments: [UUID().uuidString.lowercased(), Timestamp.now(), String(chunkBytes)])
            return .commit
        }
    }
}
