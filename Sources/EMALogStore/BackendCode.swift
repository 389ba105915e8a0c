/// A backend's own failure code, with what it means for the user: `StoreError.database` carries
/// it, so the shared module names no database library and each backend maps its codes here
/// (`EMALogSQLite/SQLiteFailure.swift`).
public struct BackendCode: Sendable, Equatable {
    /// What the failure means, whatever the backend: it chooses the hint and the exit code.
    public enum Condition: Sendable, Equatable {
        /// The disk is full.
        case full
        /// The log or its folder cannot be written.
        case readOnly
        /// The file is not a database of this backend.
        case notADatabase
        /// The file is damaged.
        case corrupt
        /// Another connection holds a lock; the same call may succeed later.
        case locked
        /// The file cannot be opened or read (I/O, permissions).
        case unreachable
        case other
    }

    /// The backend's name, as messages show it ("SQLite").
    public var backend: String
    /// The backend's code (SQLite's extended result code).
    public var value: Int32
    public var condition: Condition

    public init(backend: String, value: Int32, condition: Condition) {
        self.backend = backend
        self.value = value
        self.condition = condition
    }
}
