import EMALogFormats
import EMALogSQLite
import EMALogStore
import EMALogTestSupport
import Foundation

/// A backend the conformance suite runs against. A new backend (an object store, say) is a new
/// case here: the writable ones pass `WriterConformanceTests`, every one `ReaderConformanceTests`.
enum Backend: String, CustomStringConvertible, Sendable {
    /// A log file (`EMALogSQLite`).
    case sqlite
    /// The in-memory store of the test support, written against the protocols only.
    case memory
    /// A run of a team store (`EMALogPostgres`): read-only, filled by a push.
    case postgres

    var description: String { rawValue }

    /// An empty store, open for writing (the writable backends).
    func makeEmpty(in dir: TemporaryDirectory, chunkBytes: Int) throws -> any LogStore {
        switch self {
        case .sqlite: try SQLiteLogStore.openForIngest(at: dir.file("conformance.emalog"), chunkBytes: chunkBytes)
        case .memory: MemoryLogStore(chunkBytes: chunkBytes)
        case .postgres: preconditionFailure("a team store's run is written by a push only")
        }
    }
}
