import EMALogCore
import EMALogFormats
import EMALogStore

/// `info --json`: the log's summary (`LogInfo`'s own encoding) with the path and id first, the
/// content digest when asked, and the provenance when asked, last.
struct InfoDocument: Encodable {
    var info: LogInfo
    var digest: String?
    var provenance: Provenance?

    enum CodingKeys: String, CodingKey {
        case path
        case logID = "log_id"
        case digest = "content_sha256"
        case provenance
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(info.path, forKey: .path)
        try c.encode(info.logID, forKey: .logID)
        if let digest { try c.encode(digest, forKey: .digest) }
        try info.encode(to: encoder)  // its members follow in the same object
        if let provenance { try c.encode(provenance, forKey: .provenance) }
    }
}

/// `info --provenance --json`: every ingest, and the first and last steps' records.
struct Provenance: Encodable {
    struct Ingest: Encodable {
        var id: Int64
        var startedAt: String
        var emalogVersion: String
        var arguments: [String]
        /// The configuration as recorded: its JSON, or the text when it does not parse.
        var configuration: JSONValue

        enum CodingKeys: String, CodingKey {
            case id
            case startedAt = "started_at"
            case emalogVersion = "emalog_version"
            case arguments, configuration
        }
    }

    struct Step: Encodable {
        var step: Int
        var ingestID: Int64
        var sourcePath: String
        var sourceSize: Int
        var sourceXXH64: String
        var ingestedAt: String
        var metadata: [String: String]

        enum CodingKeys: String, CodingKey {
            case step
            case ingestID = "ingest_id"
            case sourcePath = "source_path"
            case sourceSize = "source_size"
            case sourceXXH64 = "source_xxh64"
            case ingestedAt = "ingested_at"
            case metadata
        }

        init(_ r: StepRecord) {
            (step, ingestID, sourcePath, sourceSize, sourceXXH64, ingestedAt, metadata) =
                (r.step, r.ingestID, r.sourcePath, r.sourceSize, r.sourceHash.hex16, r.ingestedAt, r.metadata)
        }
    }

    var ingests: [Ingest]
    var firstStep: Step?
    var lastStep: Step?

    enum CodingKeys: String, CodingKey {
        case ingests
        case firstStep = "first_step"
        case lastStep = "last_step"
    }

    init(_ i: LogInfo) {
        ingests = i.ingests.map {
            Ingest(id: $0.id, startedAt: $0.startedAt, emalogVersion: $0.emalogVersion, arguments: $0.arguments,
                   configuration: (try? JSONParser.parse(Array($0.configuration.utf8))) ?? .string($0.configuration))
        }
        firstStep = i.firstStepRecord.map(Step.init)
        lastStep = i.lastStepRecord.map(Step.init)
    }
}
