public import EMALogStore
import EMALogFormats
import Foundation
import GRDB
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A log in one SQLite file in WAL mode, whose schema is `migrations/` (embedded in
/// `Migrations.generated.swift`): the `LogStore` every training host writes.
///
/// The `Database` handle never leaves this module: callers get a `LogReader` or `LogWriter`
/// inside `read {}` / `write {}` closures, valid only during the closure.
public final class SQLiteLogStore: LogStore {
    /// The log file's path.
    public let path: String
    /// The log's chunk size (16 MiB for new logs, 64 MiB in logs of early versions; smaller in tests).
    public let layout: ChunkLayout
    let queue: DatabaseQueue
    /// For a log opened for writing: copies committed WAL frames into the log file beside the writer.
    let checkpointer: Checkpointer?

    /// The SQLite page size chosen for new logs: large blobs need fewer overflow pages.
    public static let pageSize = 16384
    /// WAL size past which a commit waits for the checkpointer (see `Checkpointer`).
    public static let walBoundBytes = 64 << 20

    /// For a reader that found no -wal or -shm beside the log: remove the ones SQLite made for it.
    let tidyOnClose: Bool
    private let closed = Mutex(false)
    /// For a log opened for an audit: why its tables must not be read (a schema emalog did not
    /// write, damaged settings); empty when the log is sound enough to read.
    public let unreadable: [String]
    /// Whether the log's `steps` have the `raw` column (schema 6); a reader of an older log, as
    /// it is, takes every step as raw.
    let stepsHaveRaw: Bool
    /// For a log opened for an ingest: the ingest lock, held until the store is released.
    private let lock: IngestLock?
    /// For a log this store created for an ingest: removed again on close when no ingest was recorded.
    private let created: Bool
    /// This store's connections counted as users of the log file (`LogFileUsers`).
    private let user: LogFileUsers.Key?

    /// `user`: this store's count in `LogFileUsers`, taken before its first connection opened.
    private init(path: String, user: LogFileUsers.Key?, queue: DatabaseQueue, chunkBytes: Int, checkpointer: Checkpointer? = nil,
                 tidyOnClose: Bool = false, unreadable: [String] = [], lock: IngestLock? = nil, created: Bool = false,
                 stepsHaveRaw: Bool = true) {
        self.path = path
        self.stepsHaveRaw = stepsHaveRaw
        self.queue = queue
        layout = ChunkLayout(chunkBytes: chunkBytes)
        self.checkpointer = checkpointer
        self.tidyOnClose = tidyOnClose
        self.unreadable = unreadable
        self.lock = lock
        self.created = created
        self.user = user
    }

    deinit { try? close() }

    /// Opens an existing log for reading; never modifies it.
    ///
    /// A log that an ingest is creating this very moment (an empty file, no schema yet) is waited
    /// for up to `creationWait` seconds.
    /// `auditing`: keep a foreign schema or damaged settings as findings (`unreadable`) instead of
    /// refusing the log.
    public static func openForReading(at path: String, creationWait: Double = 3, auditing: Bool = false) throws(StoreError) -> SQLiteLogStore {
        let deadline = Date().addingTimeInterval(creationWait)
        while true {
            do {
                return try openForReadingOnce(at: path, auditing: auditing)
            } catch .notALog(_, let reason) where reason == emptyDatabase && Date() < deadline {
                usleep(20_000)
            }
        }
    }

    static let emptyDatabase = "an empty database"

    private static func openForReadingOnce(at path: String, auditing: Bool) throws(StoreError) -> SQLiteLogStore {
        try checkFile(at: path, mustExist: true)
        // With no -wal or -shm beside the log, no writer is at work: what SQLite creates for this
        // reader is removed again when it closes (see `close`).
        let tidy = !FileManager.default.fileExists(atPath: path + "-wal") && !FileManager.default.fileExists(atPath: path + "-shm")
        var opened: SQLiteLogStore?
        do {
            defer { if tidy && opened == nil { removeReaderFiles(path) } }
            do {
                opened = try openReader(path, immutable: false, tidy: tidy, auditing: auditing)
                return opened!
            } catch let error as DatabaseError where error.resultCode == .SQLITE_CANTOPEN || error.resultCode == .SQLITE_READONLY {
                // SQLite cannot create or share the -shm file: the folder (or the log) is not
                // writable by this user, e.g. another user's run or a read-only medium.
                opened = try openReader(path, immutable: true, tidy: false, auditing: auditing)
                return opened!
            }
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// Opens a read-only connection and checks the log before anything else is read. For an audit,
    /// a schema emalog did not write or damaged settings are kept as `unreadable` findings instead
    /// of thrown; the audit then reads nothing but SQLite's integrity check.
    private static func openReader(_ path: String, immutable: Bool, tidy: Bool, auditing: Bool) throws -> SQLiteLogStore {
        // Counted before the first connection opens, until the store closes (or this fails).
        let user = LogFileUsers.enter(path)
        var opened = false
        defer { if !opened { LogFileUsers.leave(user) } }
        let config = configuration(readonly: true)
        let queue = immutable ? try openImmutable(path, config) : try DatabaseQueue(path: path, configuration: config)
        let (chunkBytes, unreadable, stepsHaveRaw) = try queue.read { db -> (Int, [String], Bool) in
            do {
                let chunkBytes = try checkSchema(db, path: path, requireComplete: true)
                try checkSize(db, path: path)
                let raw = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM pragma_table_info('steps') WHERE name = 'raw')") ?? false
                return (chunkBytes, [], raw)
            } catch let StoreError.foreignSchema(_, objects) where auditing {
                return (ChunkLayout.defaultChunkBytes, objects.map { "schema: \($0)" }, false)
            } catch let StoreError.inconsistent(what) where auditing {
                return (ChunkLayout.defaultChunkBytes, ["settings: \(what)"], false)
            }
        }
        opened = true
        return SQLiteLogStore(path: path, user: user, queue: queue, chunkBytes: chunkBytes, tidyOnClose: tidy, unreadable: unreadable,
                              stepsHaveRaw: stepsHaveRaw)
    }

    /// Every connection's settings: the log's schema is data, never code (`trusted_schema = OFF`:
    /// no function of this process can run from a view, trigger or default in the file), and
    /// waits for a writer's lock up to 30 s.
    static func configuration(readonly: Bool = false, busySeconds: Double = 30) -> Configuration {
        var config = Configuration()
        config.readonly = readonly
        config.busyMode = .timeout(busySeconds)
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA trusted_schema = OFF") }
        return config
    }

    /// A log in a folder this user cannot write (another user's run, a read-only medium): SQLite
    /// cannot create its shared-memory file, so it is opened as immutable. That is sound when no
    /// writer is at work: an ingest always keeps a -shm file beside the log, and one this user can
    /// read is shared instead (SQLite's read-only shared memory). Refused when a WAL holds pages
    /// not yet in the file and no readable -shm describes them.
    private static func openImmutable(_ path: String, _ config: Configuration) throws -> DatabaseQueue {
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        guard wal == 0 else {
            throw StoreError.database(path: path, code: BackendCode(sqlite: .SQLITE_READONLY), message: "the log's folder is not writable here and its WAL file "
                + "holds \(wal) bytes not yet in the log; copy the log with its -wal file to a writable folder and read it there")
        }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let escaped = absolute.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "?#%"))) ?? absolute
        return try DatabaseQueue(path: "file:\(escaped)?immutable=1", configuration: config)
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
    public static func openForWriting(at path: String, chunkBytes: Int = ChunkLayout.defaultChunkBytes,
                                      walBoundBytes: Int = walBoundBytes) throws(StoreError) -> SQLiteLogStore {
        try openForWriting(at: path, chunkBytes: chunkBytes, walBoundBytes: walBoundBytes, lock: nil, created: false)
    }

    /// Opens the log at `path` for an ingest, creating it when missing: takes the ingest lock
    /// first (`StoreError.busy` at once when another ingest holds it) and keeps it until the store
    /// is released. A log created here is removed again by `close()` when no ingest was recorded in it.
    public static func openForIngest(at path: String, chunkBytes: Int = ChunkLayout.defaultChunkBytes) throws(StoreError) -> SQLiteLogStore {
        let existed = FileManager.default.fileExists(atPath: path)
        let lock = try IngestLock(path: path)
        // Created here only when it still is the empty file the lock made: another ingest may have
        // created and filled it between the look and the lock.
        let created = !existed && ((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) == 0
        do {
            return try openForWriting(at: path, chunkBytes: chunkBytes, walBoundBytes: walBoundBytes, lock: lock, created: created)
        } catch {
            if created { removeFiles(path) }
            throw error
        }
    }

    private static func openForWriting(at path: String, chunkBytes: Int, walBoundBytes: Int, lock: IngestLock?,
                                       created: Bool) throws(StoreError) -> SQLiteLogStore {
        precondition(ChunkLayout.validChunkBytes.contains(chunkBytes) && chunkBytes % 8 == 0, "chunk size \(chunkBytes)")
        try checkFile(at: path, mustExist: false)
        // Counted before the first connection opens (a missing file: once SQLite made it), until
        // the store closes or this fails.
        var user = LogFileUsers.enter(path)
        var opened = false
        defer { if !opened { LogFileUsers.leave(user) } }
        do {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            if size == 0 {
                // page_size only takes effect before WAL and before the first table.
                let setup = try DatabaseQueue(path: path, configuration: configuration())
                try setup.writeWithoutTransaction { db in
                    try db.execute(sql: "PRAGMA page_size = \(pageSize)")
                    try db.execute(sql: "PRAGMA journal_mode = WAL")
                }
                try setup.close()
                if user == nil { user = LogFileUsers.enter(path) }
            }
            var config = configuration()
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
            if try queue.read({ db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_schema") == 0 }) {
                try Migrations.createSchema(queue, chunkBytes: chunkBytes)
            } else if try queue.read({ db in try !migrator.hasCompletedMigrations(db) }) {
                try migrator.migrate(queue)
            }
            let chunkSize = try queue.write { db in
                if try String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'log_id'") == nil {
                    try db.execute(sql: """
                        INSERT INTO log_info (key, value) VALUES ('log_id', ?), ('created_at', ?), ('chunk_bytes', ?)
                        """, arguments: [UUID().uuidString.lowercased(), Timestamp.now(), String(chunkBytes)])
                }
                return try Self.storedChunkBytes(db) ?? chunkBytes
            }
            opened = true
            return SQLiteLogStore(path: path, user: user, queue: queue, chunkBytes: chunkSize,
                                  checkpointer: try Checkpointer(path: path, walBoundBytes: walBoundBytes), lock: lock, created: created)
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// Refuses a path that is missing (when required), a folder, or a file that is not SQLite,
    /// before SQLite touches it.
    private static func checkFile(at path: String, mustExist: Bool) throws(StoreError) {
        var info = stat()
        guard stat(path, &info) == 0 else {
            if errno == ENOENT {
                if mustExist { throw .logNotFound(path: path) }
                return
            }
            throw .database(path: path, code: BackendCode(sqlite: .SQLITE_CANTOPEN), message: "cannot reach the log file: \(String(cString: strerror(errno)))")
        }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .notALog(path: path, reason: "it is a folder")
        default: throw .notALog(path: path, reason: "it is not a regular file (a FIFO, device or socket)")
        }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            throw .database(path: path, code: BackendCode(sqlite: .SQLITE_READONLY), message: "cannot read the log file: \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(fd) }
        var head = [UInt8](repeating: 0, count: 16)
        let count = Glibc.read(fd, &head, 16)
        if count == 0 { return }
        guard count == 16, head.elementsEqual(Array("SQLite format 3\0".utf8)) else {
            throw .notALog(path: path, reason: "not an SQLite database")
        }
    }

    /// Refuses newer or foreign schemas; returns the log's chunk size.
    ///
    /// Only `sqlite_schema` is read before the schema is known to be exactly emalog's: a planted
    /// view or trigger is refused before any of the log's tables is read or written.
    private static func checkSchema(_ db: Database, path: String, requireComplete: Bool) throws -> Int {
        let objects = try SchemaCheck.objects(db)
        if objects.contains(where: { $0.name == "grdb_migrations" }) {
            let ledger = try SchemaCheck.expected(applied: 1).filter { $0.table == "grdb_migrations" }
            guard ledger.isSubset(of: objects) else {
                throw StoreError.foreignSchema(path: path, objects: ["table 'grdb_migrations' is not defined as emalog defines it"])
            }
            let applied = try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations ORDER BY rowid")
            let unknown = applied.filter { !Migrations.identifiers.contains($0) }
            if !unknown.isEmpty { throw StoreError.newerSchema(path: path, unknown: unknown.sorted()) }
            guard applied == Array(Migrations.identifiers.prefix(applied.count)) else {
                throw StoreError.foreignSchema(path: path, objects: ["its migrations \(applied.joined(separator: ", ")) "
                    + "are not a prefix of emalog's (\(Migrations.identifiers.joined(separator: ", ")))"])
            }
            let differences = try SchemaCheck.differences(db, applied: applied.count)
            if !differences.isEmpty { throw StoreError.foreignSchema(path: path, objects: differences) }
            if requireComplete, applied.count < Migrations.readableFrom {
                throw StoreError.olderSchema(path: path)
            }
        } else if !objects.isEmpty {
            throw StoreError.notALog(path: path, reason: "an SQLite database without the emalog schema")
        } else if requireComplete {
            throw StoreError.notALog(path: path, reason: emptyDatabase)
        }
        guard requireComplete else { return ChunkLayout.defaultChunkBytes }
        try checkSettings(db)
        return try storedChunkBytes(db) ?? ChunkLayout.defaultChunkBytes
    }

    /// The log's id, when it has one, is a name (a run's default name on a team store); the owed
    /// snapshots, when any, are track and step pairs.
    private static func checkSettings(_ db: Database) throws {
        if let id = try String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'log_id'"),
           let problem = StoredText.nameProblem(id) {
            throw StoreError.inconsistent("log_info's log_id is not a log's id: \(problem)")
        }
        if let owed = try String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'owed_snapshots'") {
            _ = try OwedSnapshot.parse(owed)
        }
    }

    /// The chunk size in `log_info`, validated; nil while a log being created has none yet.
    private static func storedChunkBytes(_ db: Database) throws -> Int? {
        if let text = try String.fetchOne(db, sql: "SELECT value FROM log_info WHERE key = 'chunk_bytes'") {
            guard let stored = Int(text), ChunkLayout.validChunkBytes.contains(stored), stored % 8 == 0 else {
                throw StoreError.inconsistent("log_info's chunk_bytes is '\(text.prefix(40))': a chunk size is a multiple "
                    + "of 8 bytes from 8 to 64 MiB")
            }
            return stored
        }
        // A log being created has its schema a moment before its log_info; with no chunk stored
        // yet the chunk size does not matter. With chunks, a reader must not guess it.
        guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM chunks)") == false else {
            throw StoreError.inconsistent("log_info has no chunk_bytes, but the log holds chunks")
        }
        return nil
    }

    /// Runs `body` in one read transaction: a consistent view even while an ingest writes.
    /// Errors thrown by `body` pass through; SQLite's become `StoreError`.
    public func read<T>(_ body: (any LogReader) throws -> T) throws -> T {
        do {
            return try queue.read { db in try body(SQLiteReader(db: db, path: path, layout: layout, stepsHaveRaw: stepsHaveRaw)) }
        } catch let error as DatabaseError {
            throw StoreError.wrap(error, path: path)
        } catch let error as RowDecodingError {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// Runs `body` in one write transaction: everything it writes commits together or not at all.
    /// Errors thrown by `body` pass through; SQLite's become `StoreError`.
    public func write<T>(_ body: (any LogWriter) throws -> T) throws -> T {
        do {
            defer { checkpointer?.committed() }
            return try queue.write { db in
                let writer = SQLiteWriter(db: db, path: path, layout: layout)
                let result = try body(writer)
                try writer.finish()
                return result
            }
        } catch let error as DatabaseError {
            throw StoreError.wrap(error, path: path)
        } catch let error as RowDecodingError {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// Closes the connection (the last one checkpoints the whole WAL into the file). A reader that
    /// found no -wal or -shm beside the log then removes the ones SQLite made for it: a short
    /// writable connection that changes nothing closes last, and SQLite itself deletes them
    /// unless another connection (an ingest that began meanwhile) still uses them.
    ///
    /// A log this store created for an ingest that recorded nothing is removed (with its -wal and -shm).
    public func close() throws(StoreError) {
        guard closed.withLock({ done in defer { done = true }; return !done }) else { return }
        checkpointer?.stop()
        // Only a log known to hold no ingest is removed (a failed read keeps it).
        let discard = created && (try? queue.read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM ingests)") }) == false
        // A connection that failed to close stays counted: the lock's descriptor then waits for it.
        do { try queue.close() } catch { throw StoreError.wrap(error, path: path) }
        LogFileUsers.leave(user)
        if discard { Self.removeFiles(path) }
        lock?.release()
        if tidyOnClose { Self.removeReaderFiles(path) }
    }

    /// Rewrites the log file without its free pages (`VACUUM`, through the WAL: a process killed
    /// during it leaves the log as it was), then moves the WAL into the file and truncates it.
    public func compact() throws {
        do {
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "VACUUM")
                try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
            }
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// Free pages over all pages of the log file.
    public func freeFraction() throws -> Double {
        do {
            return try queue.read { db in
                let free = try Int.fetchOne(db, sql: "PRAGMA freelist_count") ?? 0
                let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
                return pages > 0 ? Double(free) / Double(pages) : 0
            }
        } catch {
            throw StoreError.wrap(error, path: path)
        }
    }

    /// The log file's size, and its WAL's, after a checkpoint when the log is writable here.
    public func storedSize() -> StoredSize {
        try? Self.checkpoint(at: path)
        func size(_ path: String) -> Int { (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0 }
        return StoredSize(main: size(path), pending: size(path + "-wal"))
    }

    /// Removes the log at `path` with its -wal and -shm.
    private static func removeFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    /// Removes the -wal and -shm files SQLite made for a reader (also one that refused the log),
    /// through a short writable connection that closes last; nothing when another connection
    /// still uses them or the log is not writable here.
    private static func removeReaderFiles(_ path: String) {
        guard FileManager.default.fileExists(atPath: path + "-shm") || FileManager.default.fileExists(atPath: path + "-wal") else { return }
        try? checkpoint(at: path)
    }
}

extension SQLiteLogStore {
    /// Checkpoints the WAL of the log at `path` (PASSIVE) through a short-lived writable connection.
    /// Changes no content; fails harmlessly on a read-only log.
    public static func checkpoint(at path: String) throws {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        guard access(path, W_OK) == 0, access(folder, W_OK) == 0 else { return }
        let user = LogFileUsers.enter(path)
        defer { LogFileUsers.leave(user) }
        let queue = try DatabaseQueue(path: path, configuration: configuration(busySeconds: 1))
        try queue.writeWithoutTransaction { db in _ = try db.checkpoint(.passive) }
        try queue.close()
    }
}
