import Foundation

/// ISO 8601 UTC timestamps for the audit trail.
public enum Timestamp {
    public static func now() -> String {
        Date().formatted(.iso8601)
    }
}
