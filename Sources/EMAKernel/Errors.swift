/// An EMA spec text that could not be parsed, with the reason.
public struct EMASpecError: Error, Equatable, Sendable, CustomStringConvertible {
    public let spec: String
    public let reason: String
    public var description: String { "invalid EMA spec '\(spec)': \(reason)" }
}
