/// What `emalog gc` removed from a team store (or, for a dry run, would remove): chunk bodies no
/// run names any more.
public struct CollectedBodies: Sendable, Encodable {
    public var bodies = 0
    public var bytes = 0
    public var dryRun: Bool
    /// Bodies no row names yet that are within the grace period (a push may be about to name them).
    public var spared = 0

    public init(dryRun: Bool) { self.dryRun = dryRun }

    enum CodingKeys: String, CodingKey {
        case bodies, bytes, spared
        case dryRun = "dry_run"
    }
}
