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
}
