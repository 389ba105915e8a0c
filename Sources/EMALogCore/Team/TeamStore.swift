import EMALogPostgres
import EMALogStore

/// The team store (PostgreSQL) as the commands see it.
public enum TeamStore {
    /// Whether a `--db` location names a team store rather than a log file.
    public static func isServer(_ location: String) -> Bool { ServerURL.isServer(location) }

    /// The runs at `address`, by name (the schema is created or brought up to date first).
    public static func runs(at address: String) throws -> [TeamServer.Run] {
        let server = try TeamServer(address)
        defer { server.close() }
        return try server.runs()
    }
}
