import EMALogStore
import Synchronization

/// What the workers of a push did, and the first error one met (checked: all of it behind one `Mutex`).
final class PushProgress: Sendable {
    private struct State {
        var totals = StagedCounts()
        var firstError: (any Error)?
    }

    private let state = Mutex(State())

    var failed: Bool { state.withLock { $0.firstError != nil } }
    var error: (any Error)? { state.withLock { $0.firstError } }
    var totals: StagedCounts { state.withLock { $0.totals } }

    func fail(_ error: any Error) { state.withLock { if $0.firstError == nil { $0.firstError = error } } }

    func add(_ counts: StagedCounts) { state.withLock { $0.totals.add(counts) } }
}
