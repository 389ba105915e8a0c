import EMALogStore
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// One connection to a team store, used synchronously: every call waits for its result on the
/// calling thread (never an event loop thread), like the SQLite backend's calls.
///
/// Every wait is bounded: by `url.timeout` (no answer: the connection is closed and the call is
/// a `StoreError.server`), and by the connection itself (a server that stops or restarts closes
/// it, which ends the wait at once). After either, every later call fails at once.
///
/// `@unchecked Sendable`: `PostgresConnection` is itself Sendable and serialises its queries;
/// the wrapper's one mutable state, the wait in progress, is behind a `Mutex`.
final class ServerConnection: @unchecked Sendable {
    let url: ServerURL
    private let connection: PostgresConnection
    private static let logger = Logger(label: "emalog.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
    /// Ends the wait in progress with the reason given (set while a call waits), and why the
    /// connection is no longer usable (once it is not).
    private let state = Mutex<(endWait: (@Sendable (String) -> Void)?, broken: String?)>((nil, nil))

    /// Connects to `url` (no TLS: a loopback or private-network server; the seam for TLS is here).
    init(_ url: ServerURL) throws(StoreError) {
        self.url = url
        let configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: .disable)
        let connecting = PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.next(), configuration: configuration, id: 1, logger: Self.logger)
        connection = try Self.bounded(connecting, seconds: url.timeout, address: url.description, action: "connect")
        connection.closeFuture.whenComplete { [weak self] _ in self?.connectionClosed() }
    }

    /// The connection closed (the server stopped or restarted, or a timeout closed it): the wait in
    /// progress ends now, and later calls fail at once.
    private func connectionClosed() {
        let reason = "the server closed the connection (stopped or restarted?)"
        let endWait = state.withLock { state in
            if state.broken == nil { state.broken = reason }
            return state.endWait
        }
        endWait?(reason)
    }

    /// Never waits: the last reference may go on an event loop thread (a timeout's closure), where
    /// a wait would trap.
    deinit {
        // The callback holds the connection until it has closed (PostgresNIO asserts it is).
        let connection = connection
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// Runs `query`; returns its rows.
    @discardableResult
    func query(_ query: PostgresQuery, _ action: String) throws(StoreError) -> [PostgresRow] {
        try wait(action) { connection.query(query, logger: Self.logger).map { Array($0.rows) } }
    }

    /// Starts `call` and waits for its result, at most `url.timeout` seconds, and no longer than
    /// the connection lasts.
    private func wait<T: Sendable>(_ action: String, _ call: () -> EventLoopFuture<T>) throws(StoreError) -> T {
        if let broken = state.withLock({ $0.broken }) {
            throw .server(address: url.description, action: action, message: broken + "; nothing more was sent")
        }
        let future = call()
        let promise = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: promise)
        state.withLock { $0.endWait = { reason in promise.fail(ServerWaitEnded(reason: reason)) } }
        defer { state.withLock { $0.endWait = nil } }
        if connection.isClosed { promise.fail(ServerWaitEnded(reason: "the server closed the connection (stopped or restarted?)")) }
        return try Self.bounded(promise.futureResult, seconds: url.timeout, address: url.description, action: action) { [weak self] reason in
            // No answer in time: this connection may still be busy with the call; it is not used again.
            guard let self else { return }
            state.withLock { $0.broken = reason }
            let _: EventLoopFuture<Void> = connection.close()
        }
    }

    /// `future`'s result, waited for at most `seconds`; `onTimeout` runs when it is not there by then.
    private static func bounded<T: Sendable>(_ future: EventLoopFuture<T>, seconds: Double, address: String, action: String,
                                            onTimeout: @escaping @Sendable (String) -> Void = { _ in }) throws(StoreError) -> T {
        let promise = future.eventLoop.makePromise(of: T.self)
        future.cascade(to: promise)
        let reason = "no answer within \(seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)) s"
        let deadline = future.eventLoop.scheduleTask(in: .nanoseconds(Int64(seconds * 1e9))) {
            promise.fail(ServerWaitEnded(reason: reason))
            onTimeout(reason)
        }
        defer { deadline.cancel() }
        do {
            return try promise.futureResult.wait()
        } catch let ended as ServerWaitEnded {
            throw .server(address: address, action: action, message: ended.reason
                + " (a server stopped, restarted, unreachable or blocked, or a link too slow for one answer in that time; "
                + "a longer wait: ?timeout=SECONDS in the address or EMALOG_SERVER_TIMEOUT=SECONDS)")
        } catch {
            throw .server(address: address, action: action, message: describe(error))
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

    /// Closes the connection, waiting a moment at most.
    func close() {
        _ = try? Self.bounded(connection.close(), seconds: min(url.timeout, 5), address: url.description, action: "close")
    }

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

/// Why a wait for the server ended without its answer.
private struct ServerWaitEnded: Error {
    var reason: String
}
