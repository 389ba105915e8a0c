import Crypto
import EMALogFormats
import EMALogStore
import Foundation
import NIOCore
import PostgresNIO
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

    func add(_ staged: RunPush.Staged) {
        state.withLock {
            $0.totals.steps += staged.step == nil ? 0 : 1
            $0.totals.snapshots += staged.snapshots.count
            $0.totals.bodies += staged.uploaded
            $0.totals.bodyBytes += staged.uploadedBytes
            $0.totals.sharedBytes += staged.sharedBytes
            $0.totals.repairedBodies += staged.repaired
        }
    }
}
