#if canImport(Glibc)
public import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A request to stop, polled by long loops between steps, so a step in progress always commits
/// whole. An ingest polls the token of its request: `StopToken.signals` (SIGINT/SIGTERM, once
/// `StopSignal.install()` ran) by default, or a token of its own that its caller sets (tests, a
/// library user stopping one ingest among several).
public final class StopToken: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    /// True once a stop was requested.
    public var requested: Bool { flag.load(ordering: .relaxed) }

    /// Requests a stop.
    public func request() { flag.store(true, ordering: .relaxed) }

    /// The process's token, set by the signals `StopSignal.install()` names once it ran.
    public static let signals = StopToken()
}

/// Signals (SIGINT and SIGTERM by default) turned into a request on `StopToken.signals`.
public enum StopSignal {
    /// Installs the handlers (idempotent) and unblocks the signals: a parent may have started us
    /// with them blocked (a spawned child inherits its parent thread's mask).
    ///
    /// Without SA_RESTART: a read(2) waiting for input returns EINTR at the signal, so `ingest -`
    /// waiting for its next record notices the stop (a read inside a record goes on with it).
    /// `once`: the first signal requests the stop and the next one acts as if no handler were
    /// installed (a second Ctrl-C ends a pull that is waiting for a long step).
    public static func install(_ signals: [Int32] = [SIGINT, SIGTERM], once: Bool = false) {
        for signal in signals {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = { _ in StopToken.signals.request() }
            #else
            action.__sigaction_u.__sa_handler = { _ in StopToken.signals.request() }
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = once ? Int32(truncatingIfNeeded: SA_RESETHAND) : 0
            sigaction(signal, &action, nil)
        }
        var set = sigset_t()
        sigemptyset(&set)
        for signal in signals { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
