#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Removes the temporary output file when a signal that would end the process arrives, then lets
/// the signal take its default course. Installed only over default dispositions, and only while a
/// temporary file exists; it knows the latest one (outputs are written one at a time: several
/// written at once from threads would each still be removed on an error, not all on a signal).
enum OutputCleanup {
    /// The temporary file's path as a C string (its address; 0 for none), read by the handler.
    private static let pending = Atomic<Int>(0)
    private static let signals = [SIGINT, SIGTERM, SIGHUP, SIGXFSZ]

    static func remember(_ path: String) {
        let copy = Int(bitPattern: strdup(path))
        free(UnsafeMutableRawPointer(bitPattern: pending.exchange(copy, ordering: .sequentiallyConsistent)))
        for sig in signals {
            let previous = signal(sig, handler)
            if !isDefault(previous) { signal(sig, previous) }
        }
    }

    static func forget() {
        for sig in signals {
            let current = signal(sig, SIG_DFL)
            if !isHandler(current) { signal(sig, current) }
        }
        free(UnsafeMutableRawPointer(bitPattern: pending.exchange(0, ordering: .sequentiallyConsistent)))
    }

    private static let handler: @convention(c) (Int32) -> Void = { sig in
        let path = OutputCleanup.pending.exchange(0, ordering: .sequentiallyConsistent)
        if let name = UnsafePointer<CChar>(bitPattern: path) { unlink(name) }
        signal(sig, SIG_DFL)
        raise(sig)
    }

    private static func isDefault(_ disposition: (@convention(c) (Int32) -> Void)?) -> Bool {
        disposition.map { unsafeBitCast($0, to: Int.self) == 0 } ?? true
    }

    private static func isHandler(_ disposition: (@convention(c) (Int32) -> Void)?) -> Bool {
        disposition.map { unsafeBitCast($0, to: Int.self) == unsafeBitCast(handler, to: Int.self) } ?? false
    }
}
