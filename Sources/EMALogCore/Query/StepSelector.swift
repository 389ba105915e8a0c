public import EMALogStore

/// A step as a query names it: a number, or the name of a pin (`emalog pin`).
public enum StepSelector: Sendable, Equatable, CustomStringConvertible {
    case number(Int)
    case pin(String)

    /// `text` as a number when it is one (digits, an optional sign), else as a pin's name.
    public init(parsing text: String) {
        if let number = Int(text) { self = .number(number) } else { self = .pin(text) }
    }

    public var description: String {
        switch self {
        case let .number(step): "\(step)"
        case let .pin(name): name
        }
    }

    /// The step this names in the log `r` reads (a pin's step; a number as it is).
    func step(in r: any LogReader) throws -> Int {
        switch self {
        case let .number(step): return step
        case let .pin(name):
            let pins = try r.pins()
            guard let pin = pins.first(where: { $0.name == name }) else { throw QueryError.unknownPin(name, pins: pins.map(\.name)) }
            return pin.step
        }
    }
}

extension EMALog {
    /// The named steps of the log (of rank 0 for a sharded run, whose ranks are pinned alike).
    public func pins() throws -> [PinRecord] {
        try store.read { r in try r.pins() }
    }

    /// The step `selector` names (nil: nil, the latest).
    public func step(_ selector: StepSelector?) throws -> Int? {
        guard let selector else { return nil }
        if case let .number(step) = selector { return step }
        return try store.read { r in try selector.step(in: r) }
    }
}
