import EMALogFormats
public import EMALogStore
import Foundation

/// Changes to a log that are not an ingest: its pins. Each holds the log's ingest lock (one
/// writer at a time) and commits in one transaction. A team store's run is changed by pushing its
/// log again.
public enum LogEdit {
    /// Names `step` of the log at `path` as `name` (a name already used moves to `step`).
    public static func pin(log path: String, step selector: StepSelector, name: String) throws -> PinRecord {
        try checkName(name)
        return try editing(path) { w in
            let step: Int
            switch selector {
            case let .number(number): step = number
            case let .pin(other):
                let pins = try w.pins()
                guard let found = pins.first(where: { $0.name == other }) else { throw QueryError.unknownPin(other, pins: pins.map(\.name)) }
                step = found.step
            }
            guard try w.stepRecord(step) != nil else {
                let (below, above) = try w.neighbours(of: step)
                throw QueryError.stepNotFound(step: step, below: below, above: above)
            }
            let pin = PinRecord(name: name, step: step, pinnedAt: Timestamp.now())
            try w.pin(pin)
            return pin
        }
    }

    /// Removes pin `name` of the log at `path`.
    public static func unpin(log path: String, name: String) throws {
        try editing(path) { w in
            guard try w.unpin(name: name) else { throw QueryError.unknownPin(name, pins: try w.pins().map(\.name)) }
        }
    }

    /// A pin's name: a name (`StoredText.nameProblem`) that does not read as a step number.
    static func checkName(_ name: String) throws {
        if let problem = StoredText.nameProblem(name) { throw QueryError.invalidPinName(name, reason: problem) }
        if case .number = StepSelector(parsing: name) {
            throw QueryError.invalidPinName(name, reason: "it reads as a step number; --step would take it as one")
        }
    }

    /// Runs `body` in one write transaction on the existing log at `path`, under its ingest lock.
    private static func editing<T>(_ path: String, _ body: (any LogWriter) throws -> T) throws -> T {
        let store = try LogStores.openForEdit(path)
        defer { try? store.close() }
        return try store.write(body)
    }
}
