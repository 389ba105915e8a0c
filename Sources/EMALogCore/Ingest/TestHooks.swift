import Synchronization

/// Points where a test acts in the middle of an ingest (e.g. truncates a step file between two
/// windows of a read), registered per file path; unused outside tests, where a call costs one
/// relaxed atomic load.
enum TestHooks {
    private static let active = Atomic<Bool>(false)
    private static let afterWindow = Mutex<[String: @Sendable (Int) -> Void]>([:])

    /// Calls `body` with the end offset of each window read from `path` (see `StepFile.forEachWindow`)
    /// until `remove(path)`.
    static func onWindowRead(of path: String, _ body: @escaping @Sendable (Int) -> Void) {
        afterWindow.withLock { $0[path] = body }
        active.store(true, ordering: .relaxed)
    }

    /// Removes `path`'s hook.
    static func remove(_ path: String) {
        afterWindow.withLock { hooks in
            hooks[path] = nil
            if hooks.isEmpty { active.store(false, ordering: .relaxed) }
        }
    }

    /// A window of `path` ending at `end` was read.
    static func windowRead(of path: String, end: Int) {
        guard active.load(ordering: .relaxed) else { return }
        afterWindow.withLock { $0[path] }?(end)
    }
}
