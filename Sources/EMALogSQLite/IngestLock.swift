public import EMALogStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import GRDB

/// An exclusive advisory lock (flock) held by the one `emalog ingest` writing a log.
///
/// flock locks are independent of SQLite's POSIX record locks on Linux, but closing any
/// descriptor of a file drops every POSIX lock the process holds on it, SQLite's among them. So
/// `release()` unlocks at once and closes the descriptor as soon as no SQLite connection of this
/// process has the file open (`LogFileUsers`): right away after the ingest's own store closed,
/// or when the last other store of the same file closes. No descriptor outlives its use.
public final class IngestLock: Sendable {
    /// The locked descriptor, nil once released.
    private let fd: Mutex<Int32?>

    /// Takes the lock on `path` (creating the file if needed) or throws `busy` at once.
    public init(path: String) throws(StoreError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            throw .database(path: path, code: BackendCode(sqlite: code == EROFS || code == EACCES ? .SQLITE_READONLY : .SQLITE_CANTOPEN),
                            message: "cannot open the log: \(String(cString: strerror(code)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            LogFileUsers.close(fd)
            throw .busy(path: path)
        }
        self.fd = Mutex(fd)
    }

    deinit { release() }

    /// Releases the lock and gives the descriptor back (again: nothing).
    func release() {
        guard let fd = fd.withLock({ held in defer { held = nil }; return held }) else { return }
        flock(fd, LOCK_UN)
        LogFileUsers.close(fd)
    }
}

/// This process's SQLite connections per log file, and the descriptors that must wait for them
/// to close: closing a descriptor of a file drops the process's POSIX locks on it (SQLite's
/// own), so a descriptor of ours on a log is closed only when no connection has the log open.
enum LogFileUsers {
    /// A log file, by device and inode.
    struct Key: Hashable, Sendable {
        var device: UInt64
        var inode: UInt64
    }

    private struct Entry {
        var users = 0
        var waiting: [Int32] = []
    }

    private static let files = Mutex<[Key: Entry]>([:])

    /// The file at `path` is about to get SQLite connections (until `leave` with what this returns).
    static func enter(_ path: String) -> Key? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let key = Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        files.withLock { $0[key, default: Entry()].users += 1 }
        return key
    }

    /// The connections counted by `enter` are closed; descriptors that waited for them close now.
    static func leave(_ key: Key?) {
        guard let key else { return }
        // Closed under the lock: a connection opening meanwhile is counted (`enter`) first, and
        // then waits here until these descriptors are gone.
        files.withLock { files in
            guard var entry = files[key] else { return }
            entry.users -= 1
            if entry.users > 0 {
                files[key] = entry
                return
            }
            files[key] = nil
            for fd in entry.waiting { closeDescriptor(fd) }
        }
    }

    /// Closes `fd` now when no connection of this process has its file open, else when the last closes.
    static func close(_ fd: Int32) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { closeDescriptor(fd); return }
        let key = Key(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        files.withLock { files in
            if files[key] != nil { files[key]!.waiting.append(fd) } else { closeDescriptor(fd) }
        }
    }

    /// Descriptors waiting for connections to close (tests).
    static var waitingCount: Int { files.withLock { $0.values.reduce(0) { $0 + $1.waiting.count } } }
}

/// close(2), under a name `LogFileUsers.close` does not hide.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }
