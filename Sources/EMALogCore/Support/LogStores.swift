import EMALogPostgres
import Foundation
import EMALogStore
import EMALogSQLite

/// Where a log location is opened: the one place that picks a `LogStore` implementation. A path
/// is a SQLite log file; a `postgresql://` address with a run name is a run of a team store,
/// read-only; the use cases above stay as they are.
enum LogStores {
    /// Opens the log at `location` (with `run`, a team store's run) for queries; never modifies
    /// it. `auditing`: a log whose schema or settings are not as emalog writes them is opened
    /// anyway, with `unreadable` saying why.
    static func openForReading(_ location: String, run: String? = nil, auditing: Bool = false) throws(StoreError) -> any LogStore {
        try refuseMistypedAddress(location)
        if ServerURL.isServer(location) {
            guard let run else {
                let server = try TeamServer(location, reading: true)
                defer { server.close() }
                throw .runNotFound(address: server.url.description, run: "", available: try server.runs().map(\.name))
            }
            return try ServerRunStore(address: location, run: run)
        }
        if run != nil {
            throw .badServerAddress(address: location, reason: "a run is named in a team store (postgresql://...); a log file is one run")
        }
        return try SQLiteLogStore.openForReading(at: location, auditing: auditing)
    }

    /// Opens (or creates) the log at `location` for an ingest, holding its ingest lock until closed.
    static func openForIngest(_ location: String, chunkBytes: Int) throws(StoreError) -> any LogStore {
        try refuseMistypedAddress(location)
        try refuseFolder(location)
        if ServerURL.isServer(location) {
            throw .badServerAddress(address: ServerURL.redacted(location),
                                    reason: "an ingest writes a local log file; push it to the team store afterwards (or while it runs)")
        }
        return try SQLiteLogStore.openForIngest(at: location, chunkBytes: chunkBytes)
    }

    /// Opens the existing log at `location` to change its steps (truncate, prune), holding its
    /// ingest lock until closed (75 while an ingest runs).
    static func openForEdit(_ location: String) throws(StoreError) -> any LogStore {
        try refuseRunEdit(location)
        return try SQLiteLogStore.openForIngest(at: location, chunkBytes: ChunkLayout.defaultChunkBytes)
    }

    /// Opens the existing log at `location` to change its pins, without its ingest lock: a pin is
    /// one small transaction, serialised with an ingest's by the store, so a step can be pinned
    /// while a Logger is still writing the run (before its retention policy drops the step).
    static func openForPinning(_ location: String) throws(StoreError) -> any LogStore {
        try refuseRunEdit(location)
        return try SQLiteLogStore.openForWriting(at: location)
    }

    /// Refuses a team store's address and a log that does not exist (an edit never creates one).
    private static func refuseRunEdit(_ location: String) throws(StoreError) {
        try refuseMistypedAddress(location)
        try refuseFolder(location)
        if ServerURL.isServer(location) {
            throw .badServerAddress(address: ServerURL.redacted(location),
                                    reason: "a run of a team store changes with its log: change the log file and push it again")
        }
        guard FileManager.default.fileExists(atPath: location) else { throw .logNotFound(path: location) }
    }

    /// Creates a log file at `path` to be filled as a copy of another log (`pull`), with the
    /// source's identity (`LogWriter.adopt`).
    static func createForCopy(_ path: String, chunkBytes: Int) throws(StoreError) -> any LogStore {
        try SQLiteLogStore.openForIngest(at: path, chunkBytes: chunkBytes)
    }

    /// Where a push to `address` writes: the team store's side of `Push`.
    static func openPushTarget(_ address: String) throws(StoreError) -> any PushTarget {
        try ServerPushTarget(address: address)
    }

    /// The stores of `run` at `location`: one log, or each rank of a sharded run (`shardGroup`
    /// set), in rank order.
    static func openRun(_ location: String, run: String?, auditing: Bool) throws -> [(store: any LogStore, shardGroup: String?)] {
        try refuseMistypedAddress(location)
        if ServerURL.isServer(location), let run {
            let server = try TeamServer(location, reading: true)
            if try server.hasRun(run) { return [(try ServerRunStore(server: server, run: run), nil)] }
            defer { server.close() }
            if let ranks = try server.shardRanks(of: run) {
                return try ranks.map { (try ServerRunStore(address: location, run: $0), run) }
            }
        }
        if run == nil, let ranks = try rankLogs(in: location) {
            return try ranks.map { (try openForReading($0, auditing: auditing), location) }
        }
        return [(try openForReading(location, run: run, auditing: auditing), nil)]
    }

    /// The rank logs of a sharded training's folder (`rank-RRRRR.emalog`, as the Python Logger
    /// writes them in a `torch.distributed` job), in rank order from rank 0 with none missing;
    /// nil when `location` is not a folder.
    static func rankLogs(in location: String) throws -> [String]? {
        guard isFolder(location) else { return nil }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: location)) ?? []
        var ranks: [Int: String] = [:]
        for name in names.sorted() where name.hasPrefix("rank-") && name.hasSuffix(".emalog") {
            let digits = name.dropFirst("rank-".count).dropLast(".emalog".count)
            guard digits.count >= 5, digits.count <= 9, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let rank = Int(digits) else { continue }
            if let other = ranks[rank] {
                throw QueryError.shardsDisagree(name: location, detail: "two logs say they are rank \(rank): "
                    + "\((other as NSString).lastPathComponent) and \(name); a folder holds one training's ranks")
            }
            ranks[rank] = (location as NSString).appendingPathComponent(name)
        }
        guard !ranks.isEmpty else { throw QueryError.notRankFolder(path: location) }
        if let missing = (0..<ranks.count).first(where: { ranks[$0] == nil }) {
            throw QueryError.shardsDisagree(name: location, detail: "the folder has no log of rank \(missing) (rank-"
                + String(repeating: "0", count: max(0, 5 - String(missing).count)) + "\(missing).emalog)")
        }
        FileLimit.raise(toHold: ranks.count * 4 + 64)  // each rank's log, its WAL and shared memory index open at once
        return (0..<ranks.count).map { ranks[$0]! }
    }

    /// Refuses a folder where a log file is wanted (an edit or an ingest writes one rank's log).
    static func refuseFolder(_ location: String) throws(StoreError) {
        if isFolder(location) { throw .folderGiven(path: location) }
    }

    private static func isFolder(_ location: String) -> Bool {
        var isFolder: ObjCBool = false
        return FileManager.default.fileExists(atPath: location, isDirectory: &isFolder) && isFolder.boolValue
    }

    /// An address with a scheme emalog does not read (`pgsql://`, `postgresql:/`, ...) is a usage
    /// error saying so, its password hidden; never a file path whose errors would print it.
    static func refuseMistypedAddress(_ location: String) throws(StoreError) {
        guard !ServerURL.isServer(location), ServerURL.looksLikeAddress(location) else { return }
        throw .badServerAddress(address: ServerURL.redacted(location),
                                reason: "a team store's address starts with postgresql:// (or postgres://); a log is a file path")
    }
}
