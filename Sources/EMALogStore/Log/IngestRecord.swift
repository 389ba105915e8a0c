import EMALogFormats

/// One `emalog ingest` that wrote something: the audit trail's record of it.
public struct IngestRecord: Sendable, Equatable {
    public var id: Int64
    public var startedAt: String
    public var emalogVersion: String
    /// The command line, as given.
    public var arguments: [String]
    /// The run configuration, a JSON object (tracks, snapshot interval, options, migrations).
    public var configuration: String

    public init(id: Int64, startedAt: String, emalogVersion: String, arguments: [String], configuration: String) {
        self.id = id
        self.startedAt = startedAt
        self.emalogVersion = emalogVersion
        self.arguments = arguments
        self.configuration = configuration
    }

    /// For a truncation recorded in the audit trail (`emalog truncate`), the step it kept the log
    /// to (its configuration's `truncated_after`); nil for an ingest.
    public var truncatedAfter: Int? {
        guard case let .object(members)? = try? JSONParser.parse(Array(configuration.utf8)),
              case let .number(n)? = members.first(where: { $0.key == "truncated_after" })?.value,
              let step = n.int64.map(Int.init), StepNumber.isValid(step) else { return nil }
        return step
    }

    /// A stored row, validated: its command line must be a JSON array of strings.
    public init(validating id: Int64, startedAt: String, emalogVersion: String, argumentsText: String,
                configuration: String) throws(StoreError) {
        guard let arguments = StoredText.stringArray(argumentsText) else {
            throw .inconsistent("ingest \(id): its command line is not a JSON array of strings: '\(argumentsText.prefix(80))'")
        }
        self.init(id: id, startedAt: startedAt, emalogVersion: emalogVersion, arguments: arguments, configuration: configuration)
    }
}
