public import EMALogStore
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A team store's address: `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?timeout=SECONDS]` (or
/// `postgres://`, in any case). The password may also come from `PGPASSWORD` or a password file
/// (`PGPASSFILE`, else `~/.pgpass`, as libpq reads it); it never appears in messages.
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
        let lower = location.prefix(13).lowercased()
        return lower.hasPrefix("postgresql://") || lower.hasPrefix("postgres://")
    }

    /// Whether `location` looks like an address rather than a file path (a scheme and a colon:
    /// `pgsql://`, `postgresql:/`, `postgresql+psycopg2://`): it must not be taken for a log
    /// file, whose errors would print it, password and all.
    public static func looksLikeAddress(_ location: String) -> Bool {
        guard let colon = location.firstIndex(of: ":") else { return false }
        let scheme = location[..<colon]
        guard let first = scheme.first, first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }) else { return false }
        let rest = location[location.index(after: colon)...]
        return rest.hasPrefix("/") || scheme.lowercased().hasPrefix("postgres") || scheme.lowercased().hasPrefix("pg")
    }

    /// Whether `text` is an address with a password in it (visible to every user in `ps`).
    public static func hasPassword(_ text: String) -> Bool {
        guard isServer(text), let parts = URLComponents(string: text) else { return false }
        return parts.password != nil
    }

    /// Parses `text`; a malformed address throws `StoreError.badServerAddress` saying what is wrong.
    public init(_ text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(StoreError) {
        func bad(_ why: String) -> StoreError {
            .badServerAddress(address: ServerURL.redacted(text), reason: why)
        }
        guard Self.isServer(text), var parts = URLComponents(string: text) else {
            throw bad("expected postgresql://USER@HOST:PORT/DATABASE")
        }
        parts.scheme = parts.scheme?.lowercased()
        guard let host = parts.host, !host.isEmpty else { throw bad("it names no host") }
        guard let user = parts.user, !user.isEmpty else { throw bad("it names no user (USER@HOST)") }
        let database = String(parts.path.drop { $0 == "/" })
        guard !database.isEmpty, !database.contains("/") else { throw bad("it names no database (/DATABASE at the end)") }
        if let port = parts.port, !(1...65535).contains(port) { throw bad("port \(port) is not in 1...65535") }
        self.user = user.removingPercentEncoding ?? user
        self.host = host
        port = parts.port ?? 5432
        let (name, login, number) = (database.removingPercentEncoding ?? database, user.removingPercentEncoding ?? user, parts.port ?? 5432)
        self.database = name
        password = parts.password.map { $0.removingPercentEncoding ?? $0 } ?? environment["PGPASSWORD"]
            ?? Self.passwordFile(environment).flatMap { PasswordFile.lookup($0, host: host, port: number, database: name, user: login) }
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

    /// The password file libpq would read: `PGPASSFILE`, else `~/.pgpass`.
    private static func passwordFile(_ environment: [String: String]) -> String? {
        environment["PGPASSFILE"] ?? environment["HOME"].map { $0 + "/.pgpass" }
    }

    /// The address without its password, for messages.
    public var description: String { "postgresql://\(user)@\(host):\(port)/\(database)" }

    /// `text` with any password replaced by `***`.
    /// (Also for a mistyped scheme: `postgresql:/me:pw@h/d`, `pgsql://me:pw@h/d`.)
    public static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@"), let schemeColon = text.firstIndex(of: ":"), schemeColon < at else { return text }
        let user = text[text.index(after: schemeColon)..<at].drop { $0 == "/" }
        guard let colon = user.firstIndex(of: ":") else { return text }
        return String(text[..<text.index(after: colon)]) + "***" + String(text[at...])
    }
}

/// A libpq password file: lines `hostname:port:database:username:password`, `*` matching
/// anything, `\:` and `\\` escaped; the first match wins. Like libpq, a file others can read
/// (group or world permissions) is ignored.
enum PasswordFile {
    static func lookup(_ path: String, host: String, port: Int, database: String, user: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o077 == 0, (info.st_mode & S_IFMT) == S_IFREG,
              let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#") {
            let fields = split(line)
            guard fields.count == 5 else { continue }
            let wanted = [host, String(port), database, user]
            if zip(fields, wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    /// A line's fields, split at unescaped colons.
    private static func split(_ line: Substring) -> [String] {
        var fields: [String] = [], field = "", escaped = false
        for c in line {
            if escaped { field.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == ":" {
                fields.append(field)
                field = ""
            } else { field.append(c) }
        }
        fields.append(field)
        return fields
    }
}
