import Foundation
import EMALogPostgres
public import EMALogStore

/// The team store (PostgreSQL) as the commands see it.
public enum TeamStore {
    /// Whether a `--db` location names a team store rather than a log file.
    public static func isServer(_ location: String) -> Bool { ServerURL.isServer(location) }

    /// Whether `text` is a team store's address with a password in it.
    public static func hasPassword(_ text: String) -> Bool { ServerURL.hasPassword(text) }

    /// The runs at `address`, by name (nothing is written: a read-only role can list them).
    public static func runs(at address: String) throws -> [RunSummary] {
        let server = try TeamServer(address, reading: true)
        defer { server.close() }
        return try server.runs()
    }

    /// Deletes the chunk bodies of the team store at `address` that no run names any more (a
    /// pruned or replaced run's), except those a push touched within `graceSeconds`; safe while
    /// pushes run. `dryRun`: counts them, deleting nothing.
    public static func collectGarbage(at address: String, dryRun: Bool, graceSeconds: Int) throws -> CollectedBodies {
        let server = try TeamServer(address)
        defer { server.close() }
        return try server.collectGarbage(dryRun: dryRun, graceSeconds: graceSeconds)
    }

    /// Pushes the rank logs of a sharded training's folder (`rank-RRRRR.emalog`) as the ranks of
    /// sharded run `run` (default: the folder's name), rank by rank; nil when `path` is not a folder.
    public static func pushRanks(folder path: String, to address: String, run: String?, connections: Int = 2, repair: Bool = false,
                                 observer: any ProgressObserver = SilentObserver()) throws -> [PushReport]? {
        guard let ranks = try LogStores.rankLogs(in: path) else { return nil }
        let name = run ?? URL(fileURLWithPath: path).standardizedFileURL.lastPathComponent
        return try ranks.enumerated().map { rank, log in
            try push(log: log, to: address, run: name, shard: (rank, ranks.count), connections: connections, repair: repair,
                     observer: observer)
        }
    }

    /// Pushes the local log at `path` to run `run` (default: the log's id) at `address`: only what
    /// the server lacks, one transaction per step, resumable after any interruption.
    /// `shard`: the log is rank `rank` of `count` of sharded run `run`.
    public static func push(log path: String, to address: String, run: String?, shard: (rank: Int, count: Int)? = nil,
                            connections: Int = 2, repair: Bool = false, hooks: PushHooks = PushHooks(),
                            observer: any ProgressObserver = SilentObserver()) throws -> PushReport {
        guard !isServer(path) else {
            throw StoreError.badServerAddress(address: ServerURL.redacted(path), reason: "a push reads a local log file")
        }
        return try Push.push(open: { try LogStores.openForReading(path) }, to: { try LogStores.openPushTarget(address) }, run: run, shard: shard,
                             connections: connections, repair: repair, hooks: hooks) {
            observer.progress("push: steps", done: $0, total: $1)
        }
    }
}
