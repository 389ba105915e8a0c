import Foundation

/// Lets items commit in order: item i commits once i - 1 has. `@unchecked Sendable`: `next` and
/// `failed` are read and written only with `condition` locked (a `Mutex` cannot wait for a change).
final class Turn: @unchecked Sendable {
    private let condition = NSCondition()
    private var next = 0
    private var failed = false

    func wait(for item: Int, failed isFailed: () -> Bool) throws {
        condition.lock()
        defer { condition.unlock() }
        while next != item && !failed { condition.wait() }
        if failed || isFailed() { throw CancellationError() }
    }

    func done(_ item: Int) {
        condition.lock()
        next = item + 1
        condition.broadcast()
        condition.unlock()
    }

    func fail() {
        condition.lock()
        failed = true
        condition.broadcast()
        condition.unlock()
    }
}
