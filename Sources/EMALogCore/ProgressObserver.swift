import EMAKernel
import EMALogStore
import Foundation

/// Receives progress and warnings while long work runs.
public protocol ProgressObserver: Sendable {
    /// `done` of `total` units (total 0 when unknown), with a label.
    func progress(_ label: String, done: Int, total: Int)
    /// A non-fatal remark (e.g. a skipped metrics key).
    func warning(_ message: String)
    /// A file left out because of `error` (a backlog file that cannot be read when `--follow` stops).
    func notIngested(_ error: any Error)
}

extension ProgressObserver {
    /// By default, a warning with the error's description.
    public func notIngested(_ error: any Error) {
        warning("not ingested: \(error)")
    }
}

/// An observer that ignores everything.
public struct SilentObserver: ProgressObserver {
    public init() {}
    public func progress(_ label: String, done: Int, total: Int) {}
    public func warning(_ message: String) {}
}
