import EMALogStore
import GRDB
import Synchronization

/// One object of a log's `sqlite_schema`.
struct SchemaObject: Hashable, Sendable {
    var type: String
    var name: String
    var table: String
    var sql: String?

    /// `trigger 'x' on table 'chunks'`, for messages.
    var label: String {
        type == "table" || table == name ? "\(type) '\(name)'" : "\(type) '\(name)' on '\(table)'"
    }
}

/// A log's schema against the one its applied migrations create.
///
/// A log is data, never code: every object of `sqlite_schema` (table, index, view, trigger) must
/// be one the embedded migrations create, with the same SQL text. A trigger planted in a copy of
/// a log would otherwise run during an ingest; a view in place of a table would be believed by
/// every reader. SQLite's own statistics tables (`sqlite_stat*`, written by `ANALYZE`) hold no code
/// and are allowed.
enum SchemaCheck {
    /// The objects of `db` that the applied migrations do not create, or whose SQL differs, and the
    /// ones they create that are missing. Empty when the schema is exactly emalog's.
    static func differences(_ db: Database, applied: Int) throws -> [String] {
        let actual = try objects(db)
        let expected = try Self.expected(applied: applied)
        var found: [String] = []
        let expectedByName = Dictionary(uniqueKeysWithValues: expected.map { ($0.name, $0) })
        for object in actual.sorted(by: { $0.name < $1.name }) where !expected.contains(object) {
            if object.type == "table" && object.name.hasPrefix("sqlite_stat") { continue }
            if let twin = expectedByName[object.name] {
                found.append(twin.type == object.type
                    ? "\(object.label) is not defined as emalog defines it"
                    : "\(object.label) stands where emalog has \(twin.type) '\(twin.name)'")
            } else {
                found.append("\(object.label) was not created by emalog")
            }
        }
        let actualNames = Set(actual.map(\.name))
        for object in expected.sorted(by: { $0.name < $1.name }) where !actualNames.contains(object.name) {
            found.append("\(object.label) is missing")
        }
        return found
    }

    /// Every object of `sqlite_schema`.
    static func objects(_ db: Database) throws -> Set<SchemaObject> {
        Set(try Row.fetchAll(db, sql: "SELECT type, name, tbl_name, sql FROM sqlite_schema").map {
            SchemaObject(type: try $0.decode(atIndex: 0), name: try $0.decode(atIndex: 1), table: try $0.decode(atIndex: 2), sql: try $0.decode(atIndex: 3))
        })
    }

    /// What the first `applied` migrations create, computed once per count in an in-memory database.
    static func expected(applied: Int) throws -> Set<SchemaObject> {
        if let known = cache.withLock({ $0[applied] }) { return known }
        let queue = try DatabaseQueue()
        let identifiers = Migrations.identifiers
        if applied > 0 {
            try Migrations.migrator.migrate(queue, upTo: identifiers[min(applied, identifiers.count) - 1])
        }
        let made = try queue.read { db in try objects(db) }
        cache.withLock { $0[applied] = made }
        return made
    }

    private static let cache = Mutex<[Int: Set<SchemaObject>]>([:])
}
