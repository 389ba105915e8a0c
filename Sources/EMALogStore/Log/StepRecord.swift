import EMALogFormats

/// One ingested step's audit record.
public struct StepRecord: Sendable, Equatable {
    public var step: Int
    public var ingestID: Int64
    public var sourcePath: String
    public var sourceSize: Int
    public var sourceHash: UInt64
    public var metadata: [String: String]
    public var ingestedAt: String

    public init(step: Int, ingestID: Int64, sourcePath: String, sourceSize: Int, sourceHash: UInt64,
                metadata: [String: String], ingestedAt: String) {
        self.step = step
        self.ingestID = ingestID
        self.sourcePath = sourcePath
        self.sourceSize = sourceSize
        self.sourceHash = sourceHash
        self.metadata = metadata
        self.ingestedAt = ingestedAt
    }
}
