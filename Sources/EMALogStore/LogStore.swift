import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#endif

/// One emalog log: an SQLite file in WAL mode whose schema is `migrations/`.
///
/// The `Database` handle never leaves this module: callers get a `StoreReader` or `StoreWriter`
/// inside `read {}` / `write {}` closures, valid only during the closure.
public final class LogStore: Sendable {
    /// The log file's path.
    public let path: String
    /// Largest chunk stored, in bytes (16 MiB for new logs, 64 MiB before; smaller in tests). SPEC
    /// allows up to 64 MiB; 16 MiB keeps an ingest's working set small and gives replays chunks
    /// to share between cores.
    public let chunkBytes: Int
    let queue: DatabaseQueue
    /// For a log opened for writing: copies committed WAL frames into the log file beside the writer.
    let checkpointer: Checkpointer?

    /// The SQLite page size chosen for new logs: large blobs need fewer overflow pages.
    public static let pageSize = 16384
    /// The default largest chunk.
    public static let defaultChunkBytes = 16 << 20
    /// WAL size past which a commit waits for the checkpointer (see `Checkpointer`).
    public static let walBoundBytes = 64 << 20

    private init(path: String, queue: DatabaseQueue, chunkBytes: Int, checkpointer: Checkpointer? = nil) {
        self.path = path
        self.queue = queue
        self.chunkBytes = chunkBytes
        self.checkpointer = checkpointer
    }

    deinit { checkpointer?.stop() }

    /// Opens an existing log for reading; never modifies it.
    ///
    /// A log that an ingest is creating this very moment (an empty file, no schema yet) is waited
    /// for up to `creationWait` seconds.
    public static func openForReading(at path: String, creationWait: Double = 3) throws(StoreError) -> LogStore {
        let deadline = Date().addingTimeInterval(creationWait)
        while true {
            do {
                return try openForReadingOnce(at: path)
            } catch .notALog(_, let reason) where reason == emptyDatabase && Date() < deadline {
                usleep(20_000)
            }
        }
    }

    static let emptyDatabase = "an empty database"

    private static func openForReadingOnce(at path: String) throws(StoreError) -> LogStore {
        try checkFile(at: path, mustExist: true)
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(30)
        do {
            let queue: DatabaseQueue
            do {
                queue = try DatabaseQueue(path: path, configuration: config)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN && !folderIsWritable(path) {
                queue = try openImmutable(path, config)
            }
            let chunkBytes = try queue.read { db in
                let chunkBytes = try checkSchema(db, path: path, requireComplete: true)
                try checkSize(db, path: path)
                return chunkBytes
            }
            return LogStore(path: path, queue: queue, chunkBytes: chunkBytes)
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// A log on a read-only medium: SQLite cannot create its shared-memory file, so it is opened
    /// as immutable (no writer can exist there). Refused when a WAL holds pages not yet in the file.
    private static func openImmutable(_ path: String, _ config: Configuration) throws -> DatabaseQueue {
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        guard wal == 0 else {
            throw StoreError.database(path: path, code: 8, message: "the log's folder is read-only and its WAL file "
                + "holds \(wal) bytes not yet in the log; copy the log with its -wal file to a writable folder and read it there")
        }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let escaped = absolute.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#%"))) ?? absolute
        return try DatabaseQueue(path: "file:\(escaped)?immutable=1", configuration: config)
    }

    private static func folderIsWritable(_ path: String) -> Bool {
        access((URL(fileURLWithPath: path).deletingLastPathComponent().path), W_OK) == 0
    }

    /// Refuses a file shorter than the pages SQLite says it has (a truncated copy): cheap, and it
    /// keeps a damaged log from being read or written further.
    private static func checkSize(_ db: Database, path: String) throws {
        let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
        let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 0
        let fileSize = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let walSize = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        // Pages may live in the WAL only; a file shorter than that cannot be whole.
        if fileSize + walSize < pages * pageSize && walSize == 0 {
            throw StoreError.notALog(path: path, reason: "the file is truncated: \(fileSize) bytes for \(pages) pages of \(pageSize)")
        }
    }

    /// Opens a log for writing, creating it (page size, WAL, schema) when the file is new or empty,
    /// and applying any migrations it lacks.
    /// `walBoundBytes`: the WAL size past which commits wait for the checkpointer (tests lower it).
    public static func openForWriting(at path: String, chunkBytes: Int = defaultChunkBytes,
                                      walBoundBytes: Int = walBoundBytes) throws(StoreError) -> LogStore {
        try checkFile(at: path, mustExist: false)
        do {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            if size == 0 {
                // page_size only takes effect before WAL and before the first table.
                let setup = try DatabaseQueue(path: path)
                try setup.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA page_size = \(pageSize)")
                    try db.execute(sql: "PRAGMA journal_mode = WAL")
                }
                try setup.close()
            }
            var config = Configuration()
            config.busyMode = .timeout(30)
            config.prepareDatabase { db in
                try db.execute(sql: "PRAGMA journal_mode = WAL")
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
                // The checkpointer's thread copies the WAL into the file; commits only append.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
            }
            let queue = try DatabaseQueue(path: path, configuration: config)
            _ = try queue.read { db in
                _ = try checkSchema(db, path: path, requireComplete: false)
                try checkSize(db, path: path)
            }
            let migrator = Migrations.migrator
            if try queue.read({ db in try !migrator.hasCompletedMigrations(db) }) {
                try migrator.migrate(queue)
            }
            let storedChunkBytes = try queue.write { db in
                if try String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'log_id'") == nil {
                    try db.execute(sql: """
                        INSERT INTO log_info (key, value) VALUES ('log_id', ?), ('created_at', ?), ('chunk_bytes', ?)
                        """, arguments: [UUID().uuidString.lowercased(), Timestamp.now(), String(chunkBytes)])
                }
                return try Int(String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'chunk_bytes'") ?? "")
                    ?? chunkBytes
            }
            return LogStore(path: path, queue: queue, chunkBytes: storedChunkBytes, checkpointer: try Checkpointer(path: path, walBoundBytes: walBoundBytes))
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// Refuses a path that is missing (when required), a folder, or a file that is not SQLite,
    /// before SQLite touches it.
    private static func checkFile(at path: String, mustExist: Bool) throws(StoreError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            if mustExist { throw .logNotFound(path: path) }
            return
        }
        if isDirectory.boolValue { throw .notALog(path: path, reason: "it is a folder") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .database(path: path, code: 8, message: "cannot read the log file")
        }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 16)) ?? Data()
        if head.isEmpty { return }
        guard head.elementsEqual(Array("SQLite format 3\0".utf8)) else {
            throw .notALog(path: path, reason: "not an SQLite database")
        }
    }

    /// Refuses newer or foreign schemas; returns the log's chunk size.
    private static func checkSchema(_ db: Database, path: String, requireComplete: Bool) throws -> Int {
        let tables = try String.fetchSet(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'")
        if tables.contains("grdb_migrations") {
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations")
            let unknown = applied.filter { !Migrations.identifiers.contains($0) }
            if !unknown.isEmpty { throw StoreError.newerSchema(path: path, unknown: unknown.sorted()) }
            if requireComplete, applied.count < Migrations.identifiers.count {
                throw StoreError.notALog(path: path, reason: "its schema is older than this emalog; run `emalog ingest` on it once to upgrade it")
            }
        } else if !tables.isEmpty {
            throw StoreError.notALog(path: path, reason: "an SQLite database without the emalog schema")
        } else if requireComplete {
            throw StoreError.notALog(path: path, reason: emptyDatabase)
        }
        guard requireComplete else { return LogStore.defaultChunkBytes }
        if let stored = try Int(String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'chunk_bytes'") ?? ""), stored > 0 {
            return stored
        }
        // A log being created has its schema a moment before its log_info; with no chunk stored
        // yet the chunk size does not matter. With chunks, a reader must not guess it.
        guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM chunks)") == false else {
            throw StoreError.notALog(path: path, reason: "its log_info has no valid chunk_bytes")
        }
        return LogStore.defaultChunkBytes
    }

    /// Runs `body` in one read transaction: a consistent view even while an ingest writes.
    /// Errors thrown by `body` pass through; SQLite's become `StoreError`.
    public func read<T>(_ body: (StoreReader) throws -> T) throws -> T {
        do {
            return try queue.read { db in try body(StoreReader(db: db, path: path, chunkBytes: chunkBytes)) }
        } catch let error as DatabaseError {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// Runs `body` in one write transaction: everything it writes commits together or not at all.
    /// Errors thrown by `body` pass through; SQLite's become `StoreError`.
    public func write<T>(_ body: (StoreWriter) throws -> T) throws -> T {
        do {
            defer { checkpointer?.committed() }
            return try queue.write { db in try body(StoreWriter(db: db, path: path, chunkBytes: chunkBytes)) }
        } catch let error as DatabaseError {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// Closes the connection (the last one checkpoints the whole WAL into the file).
    public func close() throws(StoreError) {
        checkpointer?.stop()
        do { try queue.close() } catch { throw StoreError.wrap(error, path: path) }
    }
}

/// ISO 8601 UTC timestamps for the audit trail.
public enum Timestamp {
    public static func now() -> String {
        Date().formatted(.iso8601)
    }
}

extension LogStore {
    /// Checkpoints the WAL of the log at `path` (PASSIVE) through a short-lived writable connection.
    /// Changes no content; fails harmlessly on a read-only log.
    public static func checkpoint(at path: String) throws {
        var config = Configuration()
        config.busyMode = .timeout(1)
        let queue = try DatabaseQueue(path: path, configuration: config)
        try queue.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        try queue.close()
    }
}
