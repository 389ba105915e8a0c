import EMALogStore
import Synchronization

/// What the workers of a push did, and the first error one met (checked: all of it behind one `Mutex`).
final class PushProgress: Sendable {
    private struct State {
        var totals = PushReport()
        var firstError: (any Error)?
    }

    private let state = Mutex(State())

    var failed: Bool { state.withLock { $0.firstError != nil } }
    var error: (any Error)? { state.withLock { $0.firstError } }
    var report: PushReport { state.withLock { $0.totals } }

    func fail(_ error: any Error) { state.withLock { if $0.firstError == nil { $0.firstError = error } } }

    func add(_ counts: StagedCounts) {
        state.withLock {
            $0.totals.steps += counts.steps
            $0.totals.snapshots += counts.snapshots
            $0.totals.bodies += counts.bodies
            $0.totals.bodyBytes += counts.bodyBytes
            $0.totals.sharedBytes += counts.sharedBytes
            $0.totals.repairedBodies += counts.repairedBodies
        }
    }
}
