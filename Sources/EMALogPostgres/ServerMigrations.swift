import Foundation
import EMALogStore
import PostgresNIO
/// The team store's schema history: `migrations-server/*.sql`, embedded at build time, applied in
/// order, each recorded in `emalog_migrations`. A database holding a migration this build does not
/// know was written by a newer emalog, and is refused.
public enum ServerMigrations {
    /// Identifiers of every migration this build knows, in order.
    public static var identifiers: [String] { embedded.map(\.identifier) }

    /// The SQL of each migration, by identifier (for tests).
    public static var all: [(identifier: String, sql: String)] { embedded }

    /// Serialises migrations of concurrent first pushes (any constant key, chosen for emalog).
    static let lockKey: Int64 = 0x656D_616C_6F67

    /// Checks the schema for a reader, writing nothing: true when the database holds no emalog
    /// schema (no runs); a newer schema, or an older one a push has not upgraded, is refused.
    static func checkForReading(_ connection: ServerConnection) throws(StoreError) -> Bool {
        let exists = try connection.row("SELECT to_regclass('emalog_migrations') IS NOT NULL", "look for the schema") {
            try $0.decode(Bool.self)
        } ?? false
        guard exists else { return true }
        let applied = try recorded(connection)
        let unknown = applied.filter { !identifiers.contains($0) }
        guard unknown.isEmpty else { throw StoreError.newerSchema(path: connection.url.description, unknown: unknown) }
        guard applied == identifiers else {
            throw StoreError.server(address: connection.url.description, action: "read the schema", message: "the team store's "
                + "schema has \(applied.count) of this emalog's \(identifiers.count) migrations: a push with this emalog upgrades it "
                + "(readers never write)")
        }
        return false
    }

    /// Brings the schema up to date in one transaction; returns the migrations applied now.
    @discardableResult
    static func apply(on connection: ServerConnection) throws(StoreError) -> [String] {
        try connection.execute("BEGIN", "begin a transaction")
        do throws(StoreError) {
            try connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", "lock the schema")
            try connection.execute("""
                CREATE TABLE IF NOT EXISTS emalog_migrations (
                    identifier TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())
                """, "create the migrations table")
            let applied = try recorded(connection)
            let unknown = applied.filter { !identifiers.contains($0) }
            guard unknown.isEmpty else {
                throw StoreError.newerSchema(path: connection.url.description, unknown: unknown)
            }
            guard applied == Array(identifiers.prefix(applied.count)) else {
                throw StoreError.inconsistent("the team store's migrations are \(applied), not a prefix of \(identifiers)")
            }
            var now: [String] = []
            for migration in embedded.dropFirst(applied.count) {
                for statement in statements(of: migration.sql) {
                    try connection.execute(statement, "apply migration \(migration.identifier)")
                }
                try connection.query("INSERT INTO emalog_migrations (identifier) VALUES (\(migration.identifier))",
                                     "record migration \(migration.identifier)")
                now.append(migration.identifier)
            }
            try connection.execute("COMMIT", "commit the schema")
            return now
        } catch {
            try? connection.execute("ROLLBACK", "roll back")
            throw error
        }
    }

    /// A migration's statements, one per query (the extended protocol takes one at a time): each
    /// ends with `;` at the end of a line, as every file in migrations-server/ is written.
    static func statements(of sql: String) -> [String] {
        sql.components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .filter { text in text.split(separator: "\n").contains { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") } }
    }

    /// The migrations recorded in the database, in order.
    static func recorded(_ connection: ServerConnection) throws(StoreError) -> [String] {
        do {
            return try connection.query("SELECT identifier FROM emalog_migrations ORDER BY identifier", "read the migrations")
                .map { try $0.decode(String.self) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .inconsistent("the team store's migrations table cannot be read: \(error)")
        }
    }
}
