#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive advisory lock (flock) held by the one `emalog ingest` writing a log.
///
/// flock locks are independent of SQLite's POSIX record locks on Linux; the descriptor stays open
/// for the whole process life, so closing it can never drop SQLite's own locks on the same file.
public final class IngestLock: Sendable {
    private let fd: Int32

    /// Takes the lock on `path` (creating the file if needed) or throws `busy` at once.
    public init(path: String) throws(StoreError) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let code = errno
            throw .database(path: path, code: code == EROFS || code == EACCES ? .SQLITE_READONLY : .SQLITE_CANTOPEN,
                            message: "cannot open the log: \(String(cString: strerror(code)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw .busy(path: path)
        }
        self.fd = fd
    }

    deinit { release() }

    /// Releases the lock (again: nothing). The descriptor is intentionally left open: closing it
    /// would release SQLite's POSIX locks on the same file held by other connections of this process.
    func release() {
        flock(fd, LOCK_UN)
    }
}
