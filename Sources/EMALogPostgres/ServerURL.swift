import EMALogStore
import Foundation

/// A team store's address: `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?timeout=SECONDS]` (or
/// `postgres://`). The password may also come from `PGPASSWORD`; it never appears in messages.
public struct ServerURL: Sendable, Equatable, CustomStringConvertible {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    /// Longest wait for the server's answer to one call (connecting, one statement, one body), in
    /// seconds: `?timeout=`, else `EMALOG_SERVER_TIMEOUT`, else `defaultTimeout`.
    public var timeout: Double

    /// The wait for one answer when the address and the environment name none.
    public static let defaultTimeout = 60.0

    /// Whether `location` names a server rather than a log file.
    public static func isServer(_ location: String) -> Bool {
        location.hasPrefix("postgresql://") || location.hasPrefix("postgres://")
    }

    /// Parses `text`; a malformed address throws `StoreError.badServerAddress` saying what is wrong.
    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        func bad(_ why: String) -> StoreError {
            .badServerAddress(address: ServerURL.redacted(text), reason: why)
        }
        guard Self.isServer(text), let parts = URLComponents(string: text) else {
            throw bad("expected postgresql://USER@HOST:PORT/DATABASE")
        }
        guard let host = parts.host, !host.isEmpty else { throw bad("it names no host") }
        guard let user = parts.user, !user.isEmpty else { throw bad("it names no user (USER@HOST)") }
        let database = String(parts.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw bad("it names no database (/DATABASE at the end)") }
        if let port = parts.port, !(1...65535).contains(port) { throw bad("port \(port) is not in 1...65535") }
        self.user = user.removingPercentEncoding ?? user
        password = parts.password.map { $0.removingPercentEncoding ?? $0 } ?? environment["PGPASSWORD"]
        self.host = host
        port = parts.port ?? 5432
        self.database = database.removingPercentEncoding ?? database
        var timeout = Self.defaultTimeout
        for (name, text) in [("EMALOG_SERVER_TIMEOUT", environment["EMALOG_SERVER_TIMEOUT"]),
                             ("timeout=", parts.queryItems?.first { $0.name == "timeout" }?.value)] {
            guard let text else { continue }
            guard let seconds = Double(text), seconds.isFinite, seconds > 0, seconds <= 86_400 else {
                throw bad("\(name) \(text) is not a number of seconds from 0 to 86400")
            }
            timeout = seconds
        }
        if let unknown = parts.queryItems?.first(where: { $0.name != "timeout" }) {
            throw bad("unknown parameter '\(unknown.name)' (the one known is timeout=SECONDS)")
        }
        self.timeout = timeout
    }

    /// The address without its password, for messages.
    public var description: String { "postgresql://\(user)@\(host):\(port)/\(database)" }

    /// `text` with any password replaced by `***`.
    public static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let scheme = text.range(of: "://"), scheme.upperBound < at,
              let colon = text[scheme.upperBound..<at].firstIndex(of: ":") else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
    }
}
