import EMALogStore
import Foundation
import GRDB

/// Copies committed WAL frames into the log file (PASSIVE checkpoints through a connection of its
/// own, on a thread of its own) while the writer goes on appending: SQLite's automatic checkpoint
/// would do that copy inside the writer's commits. Woken by commits, at most one copy per
/// `interval` (many small commits share one), or per `smallInterval` after a copy of a WAL far below its bound. A failed copy changes nothing (the frames stay in
/// the WAL; the closing connection checkpoints everything).
///
/// SQLite restarts the WAL from its start when a write transaction begins with every frame copied.
/// A writer that keeps beginning while a copy runs would let the WAL grow, so once a copy finds it
/// past its bound (`SQLiteLogStore.walBoundBytes`), each commit waits for a copy that started after it.
///
/// `@unchecked Sendable` is safe here because every mutable property below is read and written
/// only while `condition` is locked (the writer's thread in `committed()`/`stop()`, the
/// checkpointer's own thread in `run()`), and `queue` (a GRDB `DatabaseQueue`, itself thread-safe)
/// is used by the checkpointer's thread only.
final class Checkpointer: @unchecked Sendable {
    // Everything below `queue` is guarded by `condition`.
    private let queue: DatabaseQueue
    private let walBoundFrames: Int
    private let condition = NSCondition()
    private var requested = 0, copied = 0
    private var overBound = false, writerWaiting = false, stopping = false, finished = false
    static let interval: TimeInterval = 0.01
    static let smallInterval: TimeInterval = 0.25

    /// This checkpointer's connection counted as a user of the log file (`LogFileUsers`).
    private let user: LogFileUsers.Key?

    init(path: String, walBoundBytes: Int) throws {
        user = LogFileUsers.enter(path)
        do {
            queue = try DatabaseQueue(path: path, configuration: SQLiteLogStore.configuration(busySeconds: 1))
            let pageSize = try queue.read { db in try Int.fetchOne(db, sql: "PRAGMA page_size") } ?? 4096
            walBoundFrames = max(1, walBoundBytes / max(pageSize, 512))
        } catch {
            LogFileUsers.leave(user)
            throw error
        }
        Thread.detachNewThread { [self] in run() }
    }

    private func run() {
        condition.lock()
        var due = Date.distantPast
        while true {
            while requested == copied && !stopping { condition.wait() }
            while Date() < due && !stopping && !writerWaiting { _ = condition.wait(until: due) }
            if stopping { break }
            let target = requested
            condition.unlock()
            let frames = (try? queue.writeWithoutTransaction { db in try db.checkpoint(.passive) })?.walFrameCount ?? 0
            condition.lock()
            // A WAL far below its bound (a small model's steps) is copied at most every quarter
            // second: each copy syncs the file, and a hundred syncs a second cost a training more
            // than the copies.
            due = Date().addingTimeInterval(frames < walBoundFrames / 16 ? Self.smallInterval : Self.interval)
            copied = target
            overBound = frames > walBoundFrames
            condition.broadcast()
        }
        // Closed before `finished`: the writer's connection must close last, so that it copies
        // the whole WAL and removes it.
        try? queue.close()
        LogFileUsers.leave(user)
        finished = true
        condition.broadcast()
        condition.unlock()
    }

    /// After a commit: wakes the copy; while the WAL is past its bound, waits for it.
    func committed() {
        condition.lock()
        requested += 1
        let mine = requested
        condition.broadcast()
        if overBound {
            writerWaiting = true
            condition.broadcast()
            while copied < mine && !finished { condition.wait() }
            writerWaiting = false
        }
        condition.unlock()
    }

    /// Waits for a running copy and closes the checkpointer's connection.
    func stop() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }
}
