public import EMALogStore
import PostgresNIO

/// A team store: one PostgreSQL database holding the runs a team pushed. Opening one connects and
/// brings its schema up to date (`ServerMigrations`); a database written by a newer emalog is
/// refused, as a newer log is.
public final class TeamServer {
    public let url: ServerURL
    let connection: ServerConnection
    /// The migrations this open applied (empty when the schema was up to date).
    public let migratedNow: [String]

    /// A database with no emalog schema yet (opened for reading): it holds no runs.
    let isBare: Bool

    /// Connects to `address` and migrates its schema; `reading`: writes nothing at all (a role
    /// that may only SELECT can read), and a database emalog never wrote holds no runs.
    public init(_ address: String, reading: Bool = false) throws(StoreError) {
        url = try ServerURL(address)
        connection = try ServerConnection(url)
        if reading {
            isBare = try ServerMigrations.checkForReading(connection)
            migratedNow = []
        } else {
            migratedNow = try ServerMigrations.apply(on: connection)
            isBare = false
        }
    }

    /// The migrations recorded in the database, in order.
    public func appliedMigrations() throws(StoreError) -> [String] {
        try ServerMigrations.recorded(connection)
    }

    /// Every run, by name, with the totals its last push counted.
    public func runs() throws(StoreError) -> [RunSummary] {
        guard !isBare else { return [] }
        return try connection.rows("""
            SELECT name, log_id, to_char(pushed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                   step_count, last_step, tensor_count, track_count, stored_bytes, metric_values FROM runs ORDER BY name
            """, "list the runs") { row in
            let (name, logID, pushed, steps, last, tensors, tracks, bytes, values)
                = try row.decode((String, String, String, Int, Int?, Int, Int, Int, Int).self)
            return RunSummary(name: name, logID: logID, pushedAt: pushed, steps: steps, lastStep: last, tensors: tensors, tracks: tracks,
                       storedBytes: bytes, metricValues: values)
        }
    }

    /// Whether a run named `name` exists.
    public func hasRun(_ name: String) throws(StoreError) -> Bool {
        guard !isBare else { return false }
        return try connection.row("SELECT count(*)::BIGINT FROM runs WHERE name = \(name)", "find the run") { try $0.decode(Int.self) } == 1
    }

    /// The runs of sharded run `group`, in rank order; nil when there is no such group. A group
    /// missing a rank throws, naming the ranks there are.
    public func shardRanks(of group: String) throws(StoreError) -> [String]? {
        guard !isBare else { return nil }
        let ranks = try connection.rows("""
            SELECT name, shard_rank, shard_count FROM runs WHERE shard_group = \(group) ORDER BY shard_rank
            """, "find the ranks") { try $0.decode((String, Int, Int).self) }
        guard let count = ranks.first?.2 else { return nil }
        guard ranks.count == count, ranks.enumerated().allSatisfy({ $0.offset == $0.element.1 && $0.element.2 == count }) else {
            throw .runNotFound(address: url.description, run: group,
                               available: ["(sharded over \(count) ranks, pushed: " + ranks.map { "rank \($0.1)" }.joined(separator: ", ")
                                           + "; push the others with --rank)"])
        }
        return ranks.map(\.0)
    }

    public func close() { connection.close() }
}
