import EMALogStore

/// One thing an audit found wrong, and where: data, worded by the CLI.
public struct AuditFinding: Sendable, Equatable {
    /// What was found; the names are the `kind` of `emalog audit --format json` (README "audit").
    public enum Kind: String, Sendable, CaseIterable {
        /// SQLite's own integrity check.
        case sqlite
        /// A schema object emalog did not create, or one it creates that is missing.
        case schema
        /// The log's settings (`log_info`) are damaged.
        case settings
        /// Damage in the log's tables not tied to one step (the tensor set, say).
        case content
        /// An ingest record of the audit trail is damaged.
        case ingest
        /// A step's audit record is damaged.
        case stepRecord = "step-record"
        /// The steps do not form the sequence the ingests recorded.
        case sequence
        /// Steps of two continuations of training: an ingest replaced several steps, and steps after
        /// them are an earlier ingest's (a resumed run without `emalog truncate`).
        case continuation
        /// A raw chunk is missing, fails its checksum or does not decode.
        case chunk
        /// A track's spec is damaged.
        case track
        /// A snapshot differs from the replay, or cannot be read.
        case snapshot
        /// A metric row no ingest can have written.
        case metric
        /// A pin (`emalog pin`) whose name or step fails validation.
        case pin
        /// A step's source file is not in the sources folder.
        case sourceMissing = "source-missing"
        /// A step's source file differs from what was ingested (size or XXH64).
        case sourceChanged = "source-changed"
        /// The ranks of a sharded training do not fit together: their slices do not tile a
        /// tensor, or their steps or tracks differ.
        case shards
    }

    public var kind: Kind
    public var step: Int?
    public var tensor: String?
    public var chunk: Int?
    public var file: String?
    /// What is wrong, in words (with the step, tensor or file it concerns).
    public var detail: String

    public init(_ kind: Kind, step: Int? = nil, tensor: String? = nil, chunk: Int? = nil, file: String? = nil, _ detail: String) {
        self.kind = kind
        self.step = step
        self.tensor = tensor
        self.chunk = chunk
        self.file = file
        self.detail = detail
    }
}

/// What `emalog audit` checked and found.
public struct AuditReport: Sendable {
    public var stepsChecked = 0
    public var chunksVerified = 0
    public var snapshotsChecked = 0
    public var tracksChecked = 0
    public var ingestsChecked = 0
    /// Source files re-hashed (`sources` given).
    public var sourcesChecked = 0
    /// Wall-clock seconds the audit took.
    public var seconds = 0.0
    /// Each finding, in the order the checks ran.
    public var findings: [AuditFinding] = []
    /// What the audit could not check and why, none of it wrong: on a log whose retention policy
    /// left out raw steps, the snapshots those steps' absence keeps from being re-derived.
    public var information: [String] = []
    /// Steps whose raw weights the retention policy left out (their records were checked).
    public var stepsWithoutRaw = 0
    /// A sharded training's audit: how many ranks (steps and tracks are counted once, chunks and
    /// snapshots over every rank).
    public var ranks: Int?

    /// Each finding's words.
    public var problems: [String] { findings.map(\.detail) }
    public var isClean: Bool { findings.isEmpty }

    mutating func add(_ kind: AuditFinding.Kind, step: Int? = nil, tensor: String? = nil, chunk: Int? = nil, file: String? = nil,
                      _ detail: String) {
        findings.append(AuditFinding(kind, step: step, tensor: tensor, chunk: chunk, file: file, detail))
    }
}
