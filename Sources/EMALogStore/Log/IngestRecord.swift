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
}
