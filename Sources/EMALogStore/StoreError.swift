/// A failure of the log file itself (not of the data fed to it).
public enum StoreError: Error, Equatable, Sendable {
    /// No log at `path`.
    case logNotFound(path: String)
    /// A folder where one log file is wanted (an ingest, an edit): a sharded training's folder is
    /// read whole, and written one rank's log at a time.
    case folderGiven(path: String)
    /// The file exists but is not an SQLite database, or is damaged.
    case notALog(path: String, reason: String)
    /// The log lacks migrations this emalog knows: an ingest upgrades it, a reader does not.
    case olderSchema(path: String)
    /// The log was written by a newer emalog (unknown migrations).
    case newerSchema(path: String, unknown: [String])
    /// Another ingest holds the log's ingest lock.
    case busy(path: String)
    /// A chunk's bytes do not match their checksum.
    case checksumMismatch(what: String)
    /// The backend's own failure (SQLite's or the file system's), with its code and what it means.
    case database(path: String, code: BackendCode, message: String)
    /// Data the schema should make impossible (a bug or a hand-edited log).
    case inconsistent(String)
    /// The log's schema holds objects emalog did not create (or lacks some): it is not read.
    case foreignSchema(path: String, objects: [String])
    /// A team store's address that cannot be used (`postgresql://USER@HOST:PORT/DATABASE`).
    case badServerAddress(address: String, reason: String)
    /// A team store (PostgreSQL) refused or failed `action`, or could not be reached.
    case server(address: String, action: String, message: String)
    /// The team store at `address` has no run `run` (empty: none was named); `available` are the runs it has.
    case runNotFound(address: String, run: String, available: [String])
    /// A push cannot go to run `run`: the name holds another log (`reason` says which).
    case runConflict(address: String, run: String, reason: String)
    /// Another push to run `run` is running.
    case runBusy(address: String, run: String)
}

extension StoreError {
    /// Whether the error is damage found in the log's content (a finding for `audit`), rather than
    /// a log that cannot be reached or is busy.
    public var isDamage: Bool {
        switch self {
        case .inconsistent, .checksumMismatch, .notALog, .foreignSchema: true
        case .logNotFound, .folderGiven, .newerSchema, .olderSchema, .busy, .database, .badServerAddress, .server, .runNotFound, .runConflict, .runBusy: false
        }
    }
}

extension StoreError {
    /// Whether the backend found the log locked by another connection (SQLite's `SQLITE_BUSY`,
    /// `SQLITE_LOCKED`): the same call may succeed later.
    public var isLockContention: Bool {
        guard case let .database(_, code, _) = self else { return false }
        return code.condition == .locked
    }
}

extension StoreError: CustomStringConvertible {
    /// What happened and to which log; the CLI adds its flags and commands (audit findings quote
    /// these descriptions as they are).
    public var description: String {
        switch self {
        case let .logNotFound(path):
            "no log at \(path)"
        case let .notALog(path, reason):
            "\(path) is not a usable emalog log (\(reason)); it was left untouched"
        case let .folderGiven(path):
            "\(path) is a folder: a sharded training's folder of rank logs is read whole, and changed one rank's log at a "
                + "time (rank-RRRRR.emalog inside it)"
        case let .olderSchema(path):
            "\(path) is not a usable emalog log (its schema is older than this emalog); it was left untouched"
        case let .newerSchema(path, unknown):
            "\(path) was written by a newer emalog (schema migrations \(unknown.joined(separator: ", ")) "
                + "are unknown to this version \(EMALogVersion.current)); upgrade emalog to read it. It was left untouched"
        case let .busy(path):
            "\(path) is being written by another ingest; wait for it to finish (readers may run meanwhile)"
        case let .checksumMismatch(what):
            "checksum mismatch in \(what): the log is damaged"
        case let .database(path, code, message):
            "\(path): \(message) (\(code.backend) error \(code.value))" + Self.hint(code.condition)
        case let .inconsistent(what):
            "the log is inconsistent: \(what)"
        case let .badServerAddress(address, reason):
            "cannot use the server address \(address): \(reason)"
        case let .server(address, action, message):
            "\(address): cannot \(action): \(message)"
        case let .runNotFound(address, run, available):
            (run.isEmpty ? "\(address) holds runs, not one log: name one; " : "\(address) has no run '\(run)'; ")
                + (available.isEmpty ? "it has no runs yet" : "its runs are " + available.prefix(20).joined(separator: ", ")
                    + (available.count > 20 ? " and \(available.count - 20) more" : ""))
        case let .runConflict(address, run, reason):
            "\(address): cannot push to run '\(run)': \(reason)"
        case let .runBusy(address, run):
            "\(address): another push to run '\(run)' is running; wait for it to finish (readers may run meanwhile)"
        case let .foreignSchema(path, objects):
            "\(path) holds a schema emalog did not write: " + objects.prefix(5).joined(separator: "; ")
                + (objects.count > 5 ? "; and \(objects.count - 5) more" : "")
                + ". A log is data, never code: it was not read and left untouched"
        }
    }

    /// What to do about a backend failure.
    private static func hint(_ condition: BackendCode.Condition) -> String {
        switch condition {
        case .full: "; the disk is full: free space and run the same command again (what was committed is kept)"
        case .readOnly: "; the log or its folder is read-only: copy it somewhere writable"
        case .notADatabase: "; this is not an emalog log"
        case .corrupt: "; the log file is damaged"
        case .locked: "; the log is locked by another process: retry"
        case .unreachable: "; check the disk and the path's permissions"
        case .other: ""
        }
    }
}

/// A (step, key) pair already stored with a different value.
public struct MetricConflict: Error, Equatable, Sendable {
    public var step: Int
    public var key: String
    public var stored: Double
    public var new: Double

    public init(step: Int, key: String, stored: Double, new: Double) {
        self.step = step
        self.key = key
        self.stored = stored
        self.new = new
    }
}

/// A chunk codec failure: the stored payload does not decode (a damaged or foreign log).
struct CodecError: Error, CustomStringConvertible {
    var reason: String
    var description: String { "chunk payload does not decode: \(reason)" }
}
