import EMALogFormats

/// A named step (`emalog pin`): readers take the name for `--step`, and a retention policy never
/// drops its raw weights.
public struct PinRecord: Sendable, Equatable, Encodable {
    public var name: String
    public var step: Int
    public var pinnedAt: String

    enum CodingKeys: String, CodingKey {
        case name, step
        case pinnedAt = "pinned_at"
    }

    public init(name: String, step: Int, pinnedAt: String) {
        self.name = name
        self.step = step
        self.pinnedAt = pinnedAt
    }

    /// A stored row, validated: the name as `StoredText.nameProblem` allows, a valid step.
    public init(validating name: String, step: Int, pinnedAt: String, in table: String) throws(StoreError) {
        if let problem = StoredText.nameProblem(name) {
            throw .inconsistent("\(table) holds a pin whose name is not a name: \(problem)")
        }
        self.init(name: name, step: try StoredStep.checked(step, table), pinnedAt: pinnedAt)
    }
}
