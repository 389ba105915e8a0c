import EMALogFormats
import EMALogPostgres
import EMALogStore
import Foundation

/// What a pull wrote.
public struct PullReport: Sendable, Encodable {
    public var run: String
    public var steps = 0
    public var snapshots = 0
    public var metricValues = 0
    /// Stored bytes of the chunks copied (raw steps and snapshots).
    public var bytes = 0
    public var seconds = 0.0

    /// Its JSON (`pull --format json`).
    enum CodingKeys: String, CodingKey {
        case run, steps, snapshots
        case metricValues = "metric_values"
        case bytes, seconds
    }
}

extension TeamStore {
    /// Materialises run `run` at `address` as a new local log at `path`: the same id, audit trail,
    /// steps, chunks (their stored bytes as they are), tracks, snapshots and metrics, so every
    /// reader gives the same results and `info --digest` is the run's. Written beside `path` as
    /// `path.pull-PID` and linked into place at the end, which fails if anything appeared at `path`
    /// meanwhile (never over a file, a folder or a symlink, dangling or not). A pull that fails, or
    /// that `stop` stops between steps, removes what it wrote; what a killed one left (nobody holds
    /// its lock) is removed by the next pull into `path`.
    public static func pull(from address: String, run: String, to path: String, stop: StopToken = .signals,
                            observer: any ProgressObserver = SilentObserver()) throws -> PullReport {
        let start = Date()
        guard !isServer(path) else {
            throw StoreError.badServerAddress(address: ServerURL.redacted(path), reason: "a pull writes a local log file")
        }
        removeLeftovers(of: path)
        try refuseExisting(path)
        let source = try LogStores.openForReading(address, run: run)
        defer { try? source.close() }
        let temp = path + ".pull-\(getpid())"
        let dest = try LogStores.createForCopy(temp, chunkBytes: source.layout.chunkBytes)
        var report = PullReport(run: run)
        var held: Int32 = -1
        defer { if held >= 0 { close(held) } }
        do {
            let copied = try LogCopy.copy(from: source, into: dest, stop: stop, stopped: QueryError.pullStopped(path: path)) {
                observer.progress("pull: steps", done: $0, total: $1)
            }
            (report.steps, report.snapshots, report.metricValues, report.bytes) = (copied.steps, copied.snapshots, copied.metricValues, copied.bytes)
            try dest.close()
            // The store's lock went with it: hold the file again until it is in place, so another
            // pull never takes it for a leftover.
            held = open(temp, O_RDONLY | O_CLOEXEC)
            if held >= 0 { flock(held, LOCK_EX | LOCK_NB) }
            try place(temp, at: path)
        } catch {
            try? dest.close()
            removeTemp(temp)
            throw error
        }
        report.seconds = Date().timeIntervalSince(start)
        return report
    }

    /// Anything at `path` (a dangling symlink too) is refused.
    private static func refuseExisting(_ path: String) throws {
        var status = stat()
        if lstat(path, &status) == 0 { throw QueryError.pullTargetExists(path: path) }
    }

    private static func removeTemp(_ temp: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temp + suffix) }
    }

    /// Removes `path.pull-PID` files (and their -wal, -shm, -journal) that no pull is writing: what
    /// a pull killed with SIGKILL left. A pull holds an flock on its file from creation until it
    /// is in place, so a file whose lock can be taken is abandoned, whatever PID namespace or host
    /// its pull ran in; it is removed under that lock.
    static func removeLeftovers(of path: String) {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let prefix = url.lastPathComponent + ".pull-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }) else { continue }
            let temp = folder + "/" + name
            let fd = open(temp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var status = stat()
            guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
            removeTemp(temp)
        }
    }

    /// Puts the finished log at `path` without replacing anything there: a hard link fails if the
    /// name exists (`rename` would replace it). Where the file system has no hard links (vfat, some
    /// FUSE mounts), a rename after a last check: there a file created at `path` in the moment
    /// between the two would be replaced.
    private static func place(_ temp: String, at path: String) throws {
        if link(temp, path) == 0 {
            unlink(temp)
            return
        }
        let code = errno
        if code == EEXIST { throw QueryError.pullTargetExists(path: path) }
        guard code == EPERM || code == EOPNOTSUPP || code == ENOTSUP || code == EMLINK else {
            throw QueryError.outputIO(path: path, action: "link", code: code, reason: String(cString: strerror(code)))
        }
        try refuseExisting(path)
        guard rename(temp, path) == 0 else {
            throw QueryError.outputIO(path: path, action: "rename", code: errno, reason: String(cString: strerror(errno)))
        }
    }
}
