#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The one writer of every tensor output: buffers bytes, writes them to the resolved destination
/// and checks every write, sync and close. A regular file is replaced atomically: the bytes go to a
/// temporary file created exclusively (`O_CREAT|O_EXCL|O_NOFOLLOW`, an unpredictable name, mode
/// 0666 & ~umask) beside the target, which `commit()` syncs and renames into place. Until then, any
/// failure, a release without `commit()`, or SIGINT/SIGTERM/SIGHUP/SIGXFSZ removes the temporary file.
final class OutputSink {
    private let path: String
    private let destination: OutputDestination
    private var fd: Int32
    /// The temporary file's full path (atomic replacement only).
    private var temporary: String?
    private var buffer: [UInt8] = []
    private var finished = false
    private static let bufferSize = 1 << 20

    /// Opens `target`'s destination for writing.
    init(_ target: OutputTarget) throws(QueryError) {
        path = target.path
        destination = try target.destination()
        buffer.reserveCapacity(Self.bufferSize)
        switch destination {
        case let .descriptor(number):
            fd = number
        case let .inPlace(file):
            var st = stat()
            let regular = stat(file, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
            fd = Self.retrying { open(file, O_WRONLY | O_CLOEXEC | O_NOCTTY | (regular ? O_TRUNC : 0)) }
            guard fd >= 0 else { throw Self.failure(target.path, "open", errno) }
        case let .replace(folder, name):
            (fd, temporary) = try Self.createTemporary(in: folder, beside: name, for: target.path)
        }
    }

    deinit { if !finished { discard() } }

    /// Appends `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws(QueryError) {
        if buffer.count + bytes.count > Self.bufferSize { try flush() }
        if bytes.count >= Self.bufferSize {
            try writeAll(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Appends `bytes`.
    func write(_ bytes: [UInt8]) throws(QueryError) {
        try bytes.withUnsafeBytes { b in Result { () throws(QueryError) in try write(b) } }.get()
    }

    /// Appends `text` as UTF-8.
    func write(_ text: String) throws(QueryError) {
        var text = text
        try text.withUTF8 { b in Result { () throws(QueryError) in try write(UnsafeRawBufferPointer(b)) } }.get()
    }

    /// Writes what is buffered, syncs, closes and (for a regular file) renames the temporary file into
    /// place, then syncs the folder so the rename survives a crash.
    func commit() throws(QueryError) {
        defer { if !finished { discard() } }
        try flush()
        switch destination {
        case .descriptor:
            try sync(allowingUnsupported: true)
        case .inPlace:
            try sync(allowingUnsupported: true)
            try closeChecked()
        case let .replace(folder, name):
            try sync(allowingUnsupported: false)
            try closeChecked()
            let final = Path.join(folder, name)
            guard rename(temporary!, final) == 0 else { throw Self.failure(path, "rename the temporary file onto \(final)", errno) }
            OutputCleanup.forget()
            temporary = nil
            let dir = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if dir >= 0 { _ = fsync(dir); close(dir) }
        }
        finished = true
    }

    /// Closes and removes the temporary file; nothing of the output remains.
    func discard() {
        finished = true
        if case .descriptor = destination {} else if fd >= 0 { close(fd) }
        fd = -1
        if let temporary {
            unlink(temporary)
            OutputCleanup.forget()
        }
        temporary = nil
    }

    private func flush() throws(QueryError) {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { b in Result { () throws(QueryError) in try writeAll(b) } }.get()
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(QueryError) {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            let n = posixWrite(fd, rest.baseAddress!, rest.count)
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                if code == EAGAIN || code == EWOULDBLOCK {  // a non-blocking stdout shared with the parent
                    var ready = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&ready, 1, -1)
                    continue
                }
                throw Self.failure(path, "write", code)
            }
            done += n
        }
    }

    /// fsync; a FIFO, terminal or device that cannot sync (EINVAL, ENOTSUP) is fine when allowed.
    private func sync(allowingUnsupported: Bool) throws(QueryError) {
        guard fsync(fd) != 0 else { return }
        let code = errno
        if allowingUnsupported, code == EINVAL || code == ENOTSUP || code == EROFS { return }
        throw Self.failure(path, "sync", code)
    }

    private func closeChecked() throws(QueryError) {
        let result = close(fd)
        let code = errno
        fd = -1
        if result != 0, code != EINTR { throw Self.failure(path, "close", code) }
    }

    private static func createTemporary(in folder: String, beside name: String, for path: String) throws(QueryError)
        -> (Int32, String)
    {
        // NAME_MAX is 255 bytes: keep room for ".<16 hex>.tmp".
        var stem = name
        while stem.utf8.count > 200 { stem.removeLast() }
        for _ in 0..<16 {
            let random = String(UInt64.random(in: .min ... .max), radix: 16)
            let candidate = Path.join(folder, "\(stem).\(String(repeating: "0", count: 16 - random.count))\(random).tmp")
            OutputCleanup.remember(candidate)
            let fd = retrying { open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666) }
            if fd >= 0 { return (fd, candidate) }
            let code = errno
            OutputCleanup.forget()
            if code != EEXIST { throw failure(path, "create a temporary file in \(folder)", code) }
        }
        throw failure(path, "create a temporary file in \(folder)", EEXIST)
    }

    private static func retrying(_ call: () -> Int32) -> Int32 {
        while true {
            let result = call()
            if result >= 0 || errno != EINTR { return result }
        }
    }

    private static func failure(_ path: String, _ action: String, _ code: Int32) -> QueryError {
        .outputIO(path: path, action: action, code: code, reason: Path.error(code))
    }
}

/// `write(2)`, named apart from `OutputSink.write`.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(fd, bytes, count)
    #else
    Darwin.write(fd, bytes, count)
    #endif
}
