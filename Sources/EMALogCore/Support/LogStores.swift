import EMALogPostgres
import EMALogStore

/// Where a log location is opened: the one place that picks a `LogStore` implementation. Every
/// log is one SQLite file today; a second backend is chosen here (e.g. by a URL scheme), and the
/// use cases above stay as they are.
enum LogStores {
    /// Opens the log at `location` for queries; never modifies it. `auditing`: a log whose schema
    /// or settings are not as emalog writes them is opened anyway, with `unreadable` saying why.
    static func openForReading(_ location: String, auditing: Bool = false) throws(StoreError) -> any LogStore {
        if ServerURL.isServer(location) { throw notYet(location) }
        return try SQLiteLogStore.openForReading(at: location, auditing: auditing)
    }

    /// Opens (or creates) the log at `location` for an ingest, holding its ingest lock until closed.
    static func openForIngest(_ location: String, chunkBytes: Int) throws(StoreError) -> any LogStore {
        if ServerURL.isServer(location) { throw notYet(location) }
        return try SQLiteLogStore.openForIngest(at: location, chunkBytes: chunkBytes)
    }

    /// A team store where a log file is needed: this version lists a server's runs (`runs`) and
    /// reads and writes logs as local files only.
    private static func notYet(_ location: String) -> StoreError {
        .badServerAddress(address: ServerURL.redacted(location),
                          reason: "this emalog lists a team store's runs (emalog runs) but reads and writes only local log files")
    }
}
