import EMALogStore
import PostgresNIO

/// A team store: one PostgreSQL database holding the runs a team pushed. Opening one connects and
/// brings its schema up to date (`ServerMigrations`); a database written by a newer emalog is
/// refused, as a newer log is.
public final class TeamServer {
    public let url: ServerURL
    let connection: ServerConnection
    /// The migrations this open applied (empty when the schema was up to date).
    public let migratedNow: [String]

    /// A run as `emalog runs` lists it.
    public struct Run: Sendable, Equatable {
        public var name: String
        public var logID: String
        public var pushedAt: String
    }

    /// Connects to `address` and migrates its schema.
    public init(_ address: String) throws(StoreError) {
        url = try ServerURL(address)
        connection = try ServerConnection(url)
        migratedNow = try ServerMigrations.apply(on: connection)
    }

    /// The migrations recorded in the database, in order.
    public func appliedMigrations() throws(StoreError) -> [String] {
        try ServerMigrations.recorded(connection)
    }

    /// Every run, by name.
    public func runs() throws(StoreError) -> [Run] {
        let rows = try connection.query(
            "SELECT name, log_id, to_char(pushed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM runs ORDER BY name",
            "list the runs")
        do {
            return try rows.map { row in
                let (name, logID, pushed) = try row.decode((String, String, String).self)
                return Run(name: name, logID: logID, pushedAt: pushed)
            }
        } catch {
            throw .inconsistent("the team store's runs cannot be read: \(error)")
        }
    }

    public func close() { connection.close() }
}
