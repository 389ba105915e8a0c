public import EMALogStore
public import GRDB

extension BackendCode {
    /// SQLite's (extended) result code and what it means (extended codes mean what their primary code does).
    public init(sqlite code: ResultCode) {
        let condition: Condition = switch code.primaryResultCode {
        case .SQLITE_FULL: .full
        case .SQLITE_READONLY: .readOnly
        case .SQLITE_NOTADB: .notADatabase
        case .SQLITE_CORRUPT: .corrupt
        case .SQLITE_BUSY, .SQLITE_LOCKED: .locked
        case .SQLITE_IOERR, .SQLITE_CANTOPEN: .unreachable
        default: .other
        }
        self.init(backend: "SQLite", value: code.rawValue, condition: condition)
    }
}

extension StoreError {
    /// Maps any error thrown by GRDB or the file system to the backend-neutral error.
    static func wrap(_ error: any Error, path: String) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? DatabaseError {
            if e.resultCode == .SQLITE_NOTADB {
                return .notALog(path: path, reason: e.message ?? "not a database")
            }
            if e.resultCode == .SQLITE_CORRUPT {
                return .notALog(path: path, reason: "the file is damaged or truncated: \(e.message ?? "malformed")")
            }
            return .database(path: path, code: BackendCode(sqlite: e.extendedResultCode), message: e.message ?? "\(e)")
        }
        if error is RowDecodingError {
            return .inconsistent("a stored value has the wrong type (\(String("\(error)".prefix(200))))")
        }
        return .database(path: path, code: BackendCode(sqlite: .SQLITE_ERROR), message: "\(error)")
    }
}
