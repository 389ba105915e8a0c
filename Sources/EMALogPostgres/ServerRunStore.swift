public import EMALogStore
import Foundation
import PostgresNIO

/// One run of a team store, opened for queries: the second `LogStore`, read-only. Every reader
/// of EMALogCore (shadow, raw, sweep, metrics, info, audit, verify, plot) works on it unchanged,
/// since the chunks it hands out are the pushed log's own bytes.
///
/// `@unchecked Sendable`: the connection is used under `lock` only; the rest is immutable.
public final class ServerRunStore: LogStore, @unchecked Sendable {
    public let path: String
    public let layout: ChunkLayout
    public let unreadable: [String] = []
    public let url: ServerURL
    public let run: String
    let runID: Int64
    private let connection: ServerConnection
    private let lock = NSLock()

    /// Opens run `run` at `address` (the schema is brought up to date first); a missing run
    /// throws `StoreError.runNotFound`, naming the runs there.
    public convenience init(address: String, run: String) throws(StoreError) {
        try self.init(server: try TeamServer(address, reading: true), run: run)
    }

    /// Opens run `run` over `server`'s connection, which the store then owns (closes).
    public init(server: TeamServer, run: String) throws(StoreError) {
        url = server.url
        connection = server.connection
        self.run = run
        path = "\(server.url) run '\(run)'"
        guard let (id, chunkBytes) = try connection.row("SELECT id, chunk_bytes FROM runs WHERE name = \(run)", "find the run", {
            try $0.decode((Int64, Int).self)
        }) else {
            throw .runNotFound(address: server.url.description, run: run, available: try server.runs().map(\.name))
        }
        guard ChunkLayout.validChunkBytes.contains(chunkBytes), chunkBytes % 8 == 0 else {
            throw .inconsistent("run '\(run)' has chunk size \(chunkBytes)")
        }
        runID = id
        layout = ChunkLayout(chunkBytes: chunkBytes)
    }

    public func read<T>(_ body: (any LogReader) throws -> T) throws -> T {
        lock.lock()
        defer { lock.unlock() }
        return try connection.transaction("ISOLATION LEVEL REPEATABLE READ READ ONLY") {
            try body(ServerReader(path: path, layout: layout, connection: connection, runID: runID))
        }
    }

    /// A run is written by `emalog push` only.
    public func write<T>(_ body: (any LogWriter) throws -> T) throws -> T {
        throw StoreError.server(address: url.description, action: "write to run '\(run)'",
                                message: "a run on a team store is written by a push of its log only")
    }

    /// The run's stored bytes as its last push counted them (chunk bodies shared with other
    /// runs are counted in each).
    /// A run is changed by pushing its log; nothing to compact here.
    public func compact() {}

    public func freeFraction() -> Double { 0 }

    public func storedSize() throws -> StoredSize {
        lock.lock()
        defer { lock.unlock() }
        let bytes = try connection.row("SELECT stored_bytes FROM runs WHERE id = \(runID)", "read the run") { try $0.decode(Int.self) }
        return StoredSize(main: bytes ?? 0, pending: 0)
    }

    public func close() throws(StoreError) { connection.close() }
}
