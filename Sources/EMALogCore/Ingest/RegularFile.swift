#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens input files without ever blocking, and only when they are regular files.
///
/// A FIFO, folder, device or socket among the inputs (named on the command line or found in an
/// input folder) is refused with `IngestError.notRegularFile` before anything is read from it: the
/// path is checked with `stat` first (which never blocks), then opened with `O_NONBLOCK` (a FIFO
/// swapped in between cannot block the open) and checked again with `fstat` on the open file.
///
/// Symbolic links are followed: a link to a regular file is read as that file (trainers and
/// experiment tools often link `latest.safetensors` to a step); a link to anything else is refused
/// as its target is, and a link to nothing is a missing input.
enum RegularFile {
    /// An open descriptor of the regular file at `path` and its `fstat`; the caller closes it.
    static func openForReading(_ path: String) throws(IngestError) -> (fd: Int32, info: stat) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw failure(path, errno) }
        if let kind = kind(of: info.st_mode) { throw .notRegularFile(path: path, kind: kind) }
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw failure(path, errno) }
        guard fstat(fd, &info) == 0 else {
            let code = errno
            close(fd)
            throw failure(path, code)
        }
        if let kind = kind(of: info.st_mode) {
            close(fd)
            throw .notRegularFile(path: path, kind: kind)
        }
        return (fd, info)
    }

    /// What a file of `mode` is, in words ("a FIFO"), or nil for a regular file.
    static func kind(of mode: mode_t) -> String? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFIFO: "a FIFO"
        case S_IFDIR: "a folder"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFSOCK: "a socket"
        default: "not a plain file (mode \(String(mode, radix: 8)))"
        }
    }

    /// A missing file is 66; a path no file can have (a name or path too long, a folder in it
    /// that is a file) is the input's fault, 65; anything else the system's, 74.
    private static func failure(_ path: String, _ code: Int32) -> IngestError {
        switch code {
        case ENOENT: .inputNotFound(path: path)
        case ENAMETOOLONG, ENOTDIR, ELOOP:
            .notRegularFile(path: path, kind: "a path no file can have (\(String(cString: strerror(code))))")
        default: .unreadable(path: path, reason: String(cString: strerror(code)))
        }
    }
}

extension stat {
    /// The modification time.
    var modified: timespec {
        #if canImport(Darwin)
        st_mtimespec
        #else
        st_mtim
        #endif
    }
}

/// Which file a path led to: its device and inode (a file replaced by a rename has another).
struct FileIdentity: Equatable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }
}
