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
    /// Whether the step's raw weights are stored; false when the log's retention policy
    /// (`--raw-every`, `prune`) left them out (the record, metrics and what tracks made of the
    /// step stay).
    public var raw: Bool

    public init(step: Int, ingestID: Int64, sourcePath: String, sourceSize: Int, sourceHash: UInt64,
                metadata: [String: String], ingestedAt: String, raw: Bool = true) {
        self.step = step
        self.ingestID = ingestID
        self.sourcePath = sourcePath
        self.sourceSize = sourceSize
        self.sourceHash = sourceHash
        self.metadata = metadata
        self.ingestedAt = ingestedAt
        self.raw = raw
    }

    /// A stored row, validated (the same checks and messages for every backend): `table` holds it,
    /// `metadataText` must be a JSON object of strings, `hashText` 16 hex digits, `size` >= 0.
    public init(validating step: Int, in table: String, ingestID: Int64, sourcePath: String, sourceSize size: Int, hashText: String,
                metadataText: String, ingestedAt: String, raw: Bool = true) throws(StoreError) {
        _ = try StoredStep.checked(step, table)
        guard let metadata = StoredText.stringObject(metadataText) else {
            throw .inconsistent("step \(step): its metadata is not a JSON object of strings: '\(metadataText.prefix(80))'")
        }
        guard hashText.utf8.count == 16, let hash = UInt64(hashText, radix: 16) else {
            throw .inconsistent("step \(step): its source hash '\(hashText.prefix(40))' is not 16 hex digits")
        }
        guard size >= 0 else { throw .inconsistent("step \(step): its source size is \(size)") }
        self.init(step: step, ingestID: ingestID, sourcePath: sourcePath, sourceSize: size, sourceHash: hash, metadata: metadata,
                  ingestedAt: ingestedAt, raw: raw)
    }
}
