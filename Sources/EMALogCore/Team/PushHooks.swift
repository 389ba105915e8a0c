/// Points where a caller (a test) acts in the middle of a push; none by default.
public struct PushHooks: Sendable {
    public enum Phase: Sendable {
        /// The item's bodies are uploaded, its rows not committed.
        case staged
        /// The item's rows are committed.
        case committed
    }

    /// Called after each item (a step with its snapshots) reaches `phase`; an error it throws stops
    /// the push there, as a kill would (what was committed stays; the next push goes on).
    public var after: (@Sendable (_ item: Int, _ phase: Phase) throws -> Void)?

    public init() {}
}
