import EMALogStore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO

/// One connection to a team store, used synchronously: every call waits for its result on the
/// calling thread (never an event loop thread), like the SQLite backend's calls.
///
/// `@unchecked Sendable`: `PostgresConnection` is itself Sendable and serialises its queries;
/// this wrapper adds only immutable state.
final class ServerConnection: @unchecked Sendable {
    let url: ServerURL
    private let connection: PostgresConnection
    private static let logger = Logger(label: "emalog.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Connects to `url` (no TLS: a loopback or private-network server; the seam for TLS is here).
    init(_ url: ServerURL) throws(StoreError) {
        self.url = url
        let configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: .disable)
        do {
            connection = try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: Self.logger
            ).wait()
        } catch {
            throw .server(address: url.description, action: "connect", message: Self.describe(error))
        }
    }

    deinit { try? connection.close().wait() }

    /// Runs `query`; returns its rows.
    @discardableResult
    func query(_ query: PostgresQuery, _ action: String) throws(StoreError) -> [PostgresRow] {
        do {
            return Array(try connection.query(query, logger: Self.logger).wait().rows)
        } catch {
            throw .server(address: url.description, action: action, message: Self.describe(error))
        }
    }

    /// Runs statements with no parameters and no rows (a migration's SQL), in the simple protocol.
    func execute(_ sql: String, _ action: String) throws(StoreError) {
        try query(PostgresQuery(unsafeSQL: sql), action)
    }

    /// Runs `query` and decodes each row with `decode`; a row that does not decode is
    /// `StoreError.inconsistent` (a database not written by emalog, or damaged).
    func rows<T>(_ query: PostgresQuery, _ action: String, _ decode: (PostgresRow) throws -> T) throws(StoreError) -> [T] {
        let rows = try self.query(query, action)
        do {
            return try rows.map(decode)
        } catch let error as StoreError {
            throw error
        } catch {
            throw .inconsistent("the team store's answer to '\(action)' cannot be read: \(String("\(error)".prefix(200)))")
        }
    }

    /// The first row of `query`, decoded; nil when there is none.
    func row<T>(_ query: PostgresQuery, _ action: String, _ decode: (PostgresRow) throws -> T) throws(StoreError) -> T? {
        try rows(query, action, decode).first
    }

    /// Runs `body` in one transaction (`BEGIN` with `mode`, e.g. "ISOLATION LEVEL REPEATABLE READ
    /// READ ONLY"): committed when it returns, rolled back when it throws. Errors pass through.
    func transaction<T>(_ mode: String = "", _ body: () throws -> T) throws -> T {
        try execute("BEGIN" + (mode.isEmpty ? "" : " " + mode), "begin a transaction")
        let result: T
        do {
            result = try body()
        } catch {
            try? execute("ROLLBACK", "roll back")
            throw error
        }
        try execute("COMMIT", "commit")
        return result
    }

    func close() { try? connection.close().wait() }

    /// The server's message (its SQLSTATE and text) or the connection failure, without noise.
    static func describe(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let server = error.serverInfo, let message = server[.message] {
                return message + (server[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
            }
            if let underlying = error.underlying { return "\(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }
}
