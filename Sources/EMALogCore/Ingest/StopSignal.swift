#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// SIGINT/SIGTERM turned into a flag that long loops poll between steps, so a step in progress
/// always commits whole.
public enum StopSignal {
    private static let flag = Atomic<Bool>(false)

    /// Installs the handlers (idempotent) and unblocks both signals: a parent may have started us
    /// with them blocked (a spawned child inherits its parent thread's mask).
    public static func install() {
        signal(SIGINT) { _ in StopSignal.flag.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in StopSignal.flag.store(true, ordering: .relaxed) }
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// True once a stop was requested.
    public static var requested: Bool { flag.load(ordering: .relaxed) }

    /// Requests a stop (tests).
    public static func request() { flag.store(true, ordering: .relaxed) }

    /// Clears the flag (tests).
    public static func reset() { flag.store(false, ordering: .relaxed) }
}
