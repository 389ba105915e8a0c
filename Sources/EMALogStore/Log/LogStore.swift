public import EMALogFormats

/// What the use cases (EMALogCore) need from a log: one run's steps, tracks, snapshots and
/// metrics, read in consistent views and written in transactions. `SQLiteLogStore` (one SQLite
/// file per run) is the first implementation; a second backend is a new type conforming to these
/// three protocols, and gets the raw-step format (chunks, keyframes, residuals, decoding) from
/// this module's extensions on them, in `Chunks/`.
///
/// The contract every implementation keeps:
/// - `read` sees one consistent state: what committed before it began, nothing of a write still
///   running (an ingest may write meanwhile).
/// - `write` commits everything its body did, or nothing when the body throws; a committed write
///   survives a crash of the process.
/// - A store opened for an ingest holds the log's ingest lock until it is closed: one writer at a
///   time, any number of readers.
/// - Every value read is validated before anything is sized or trusted from it (a log may come
///   from elsewhere): damage is `StoreError.inconsistent` or `.checksumMismatch`, never a crash.
public protocol LogStore: AnyObject, Sendable {
    /// Where the log is, for messages (a file path, or a server and run).
    var path: String { get }
    /// How raw steps and snapshots are cut into chunks; fixed when the log is created.
    var layout: ChunkLayout { get }
    /// For a log opened for an audit: why its content must not be read (a schema emalog did not
    /// write, damaged settings); empty when the log is sound enough to read.
    var unreadable: [String] { get }

    /// Runs `body` in one consistent read view. Errors thrown by `body` pass through; the
    /// backend's become `StoreError`.
    func read<T>(_ body: (any LogReader) throws -> T) throws -> T
    /// Runs `body` in one write transaction: everything it writes commits together or not at all.
    func write<T>(_ body: (any LogWriter) throws -> T) throws -> T
    /// The bytes the log takes where it is stored (after moving pending writes into place when
    /// that is possible without disturbing a writer).
    func storedSize() throws -> StoredSize
    /// Gives the space that deleted content took back to where the log is stored (SQLite: a
    /// `VACUUM`, atomic like any write); a store that frees space as it deletes does nothing.
    func compact() throws
    /// The fraction of the stored size that deleted content left free (SQLite: free pages), 0 for
    /// a store that frees space as it deletes.
    func freeFraction() throws -> Double
    /// Ends the store's use; a store opened for an ingest also releases the ingest lock.
    func close() throws(StoreError)
}

/// The bytes a log takes: its main storage, and writes not yet moved there (SQLite's WAL).
public struct StoredSize: Sendable, Equatable {
    public var main: Int
    public var pending: Int

    public init(main: Int, pending: Int) {
        self.main = main
        self.pending = pending
    }
}

/// Read access to a log, valid only inside `LogStore.read {}` or `write {}`.
///
/// The requirements are the backend's rows, validated; decoding chunks into tensor bytes is this
/// module's (`LogReader+Chunks.swift`), the same for every backend.
public protocol LogReader {
    /// The log's location, for messages.
    var path: String { get }
    /// How the log's tensors are cut into chunks.
    var layout: ChunkLayout { get }

    /// The log's identity (a UUID made when it was created).
    func logID() throws -> String
    /// The log's tensor set, in data order; empty before the first step.
    func tensors() throws -> [TensorRecord]
    /// Every stored step number, ascending.
    func stepNumbers() throws -> [Int]
    func firstStep() throws -> Int?
    func lastStep() throws -> Int?
    /// The stored steps within `range`, ascending.
    func stepNumbers(in range: ClosedRange<Int>) throws -> [Int]
    /// The closest stored steps below and above `step`.
    func neighbours(of step: Int) throws -> (below: Int?, above: Int?)
    /// The stored steps within `range` whose raw weights are kept (`StepRecord.raw`), ascending.
    func rawStepNumbers(in range: ClosedRange<Int>) throws -> [Int]
    /// The closest steps below and above `step` whose raw weights are kept: the steps a residual
    /// chain goes through.
    func rawNeighbours(of step: Int) throws -> (below: Int?, above: Int?)
    /// The audit record of `step`, if stored.
    func stepRecord(_ step: Int) throws -> StepRecord?
    /// The audit records of the stored steps within `range`, ascending.
    func stepRecords(in range: ClosedRange<Int>) throws -> [StepRecord]
    /// Stored tracks, in the order they were added.
    func tracks() throws -> [TrackRecord]
    /// A track's snapshots, ascending by step.
    func snapshots(track: Int64) throws -> [SnapshotRecord]
    /// The track's latest snapshot at or before `step`.
    func snapshot(track: Int64, atOrBefore step: Int) throws -> SnapshotRecord?
    /// Snapshots `deleteSnapshots` took away that no ingest has written again yet, by track and
    /// step: the next ingest owes them (a replaced step changed their content).
    func owedSnapshots() throws -> [(track: Int64, step: Int)]
    /// The named steps (`emalog pin`), by name.
    func pins() throws -> [PinRecord]
    /// Totals for `info`.
    func summary() throws -> StoreSummary
    /// The schema migrations applied to the log, in order.
    func appliedMigrations() throws -> [String]
    /// The audit trail: every recorded ingest, by id; a command line that is not a JSON array of
    /// strings is `StoreError.inconsistent`.
    func ingests() throws -> [IngestRecord]
    /// Metric rows no ingest can have written: a key id that names no key, a value that is not a
    /// number (NaN is stored as no value). Empty on a sound log.
    func damagedMetricRows() throws -> [DamagedMetricRow]
    /// The backend's own integrity check, one line per problem ("ok" when sound).
    func integrityCheck() throws -> [String]
    /// Where the running totals `summary` reads (chunks per codec, metric values) differ from the
    /// rows they count, one line each; none for a store that counts the rows every time.
    func totalsProblems() throws -> [String]
    /// Metric keys by name.
    func metricKeys() throws -> [String: Int64]
    /// Values of `keyIDs` with step in `steps`, ordered by step then key.
    func metricValues(keyIDs: [Int64], steps: ClosedRange<Int>) throws -> [MetricValue]

    /// Calls `body` with each stored chunk of `tensor` for `owner`, by ascending index.
    func forEachStoredChunk(of tensor: TensorRecord, in owner: ChunkOwner, _ body: (StoredChunk) throws -> Void) throws
    /// Chunk `index` of `tensor` at `step`; throws when it is missing.
    func storedChunk(of tensor: TensorRecord, index: Int, step: Int) throws -> StoredChunk
    /// Up to `limit` stored steps of chunk `index` of `tensor` at or before `step`, newest first.
    func storedChunks(of tensor: TensorRecord, index: Int, atOrBefore step: Int, limit: Int) throws -> [StoredChunk]
    /// Calls `body` with the step and codec of chunk `index` of `tensor` at each stored step at or
    /// before `step`, newest first, without payloads, until `body` returns false.
    func forEachChunkCodec(of tensor: TensorRecord, index: Int, atOrBefore step: Int,
                           _ body: (_ step: Int, _ codec: Codec?) throws -> Bool) throws
    /// How many chunks `tensor` has at `step`.
    func chunkCount(of tensor: TensorRecord, step: Int) throws -> Int
    /// How many chunks each (step, tensor) has, for audits.
    func chunkCounts() throws -> [(step: Int, tensorID: Int64, count: Int)]
}

/// Write access to a log, valid only inside `LogStore.write {}`: everything commits together.
/// Reads see what the transaction wrote so far.
public protocol LogWriter: LogReader {
    /// Makes this new, empty log a copy's destination: it takes `logID` and the audit trail
    /// `ingests` (ids as given) of the log it copies (`pull`), before anything else is written.
    func adopt(logID: String, ingests: [IngestRecord]) throws
    /// Records an ingest in the audit trail; returns its id.
    func insertIngest(arguments: [String], configuration: String) throws -> Int64
    /// Defines the log's tensor set (first step only).
    func insertTensors(_ tensors: [TensorLayout]) throws -> [TensorRecord]
    /// Adds a step's audit record (its chunks follow).
    func insertStep(_ record: StepRecord) throws
    /// Replaces a stored step's record and drops its chunks, ready for new ones (`--replace`).
    func replaceStep(_ record: StepRecord) throws
    /// Leaves out `step`'s raw weights (retention): its chunks go, its record stays with `raw`
    /// false; returns the stored bytes its chunks took. Residuals of later steps must not reach it
    /// any more (`LogWriter.thin`).
    func dropRaw(step: Int) throws -> Int
    /// Adds a track; returns its record.
    func insertTrack(name: String, spec: String, ingestID: Int64) throws -> TrackRecord
    /// Adds a snapshot (its chunks follow), replacing one of the same track at the same step.
    func insertSnapshot(track: Int64, step: Int) throws -> SnapshotRecord
    /// Deletes every snapshot at or after `step` and records them as owed (`owedSnapshots`), in
    /// the same transaction, so a process killed before it writes them again leaves the debt for
    /// the next ingest; returns the (track, step) pairs deleted.
    func deleteSnapshots(fromStep step: Int) throws -> [(track: Int64, step: Int)]
    /// Records that every owed snapshot was written again.
    func settleOwedSnapshots() throws
    /// Removes every step after `step` with its chunks, the snapshots taken after it (owed ones
    /// too) and the metric values of later steps (a truncation: the log then ends at `step`).
    /// Pins of later steps must be removed first.
    func removeSteps(after step: Int) throws -> RemovedSteps
    /// Names a stored step (a name already used moves to `step`).
    func pin(_ pin: PinRecord) throws
    /// Removes the pin `name`; false when there was none.
    func unpin(name: String) throws -> Bool
    /// Stores one encoded chunk; `payload` is read during the call only.
    func insertChunk(_ chunk: ChunkHeader, in owner: ChunkOwner, tensorID: Int64, payload: UnsafeRawBufferPointer) throws
    /// Re-encodes a stored raw chunk in place (same bytes once decoded, so the same checksum).
    func updateChunk(index: Int, tensorID: Int64, step: Int, codec: Codec, payload: [UInt8]) throws
    /// Ids of `names`, adding the keys not yet stored.
    func metricKeyIDs(for names: some Sequence<String>) throws -> [String: Int64]
    /// Stores values; the same value again is a no-op, a different one is handled as `onConflict` says.
    func insertMetrics(_ values: [MetricValue], onConflict: MetricConflictPolicy, keyName: (Int64) -> String) throws
        -> MetricsWriteResult
}

extension LogWriter {
    /// Stores values; the same value again is a no-op, a different one throws `MetricConflict`
    /// unless `replace`.
    public func insertMetrics(_ values: [MetricValue], replace: Bool, keyName: (Int64) -> String) throws -> MetricsWriteResult {
        try insertMetrics(values, onConflict: MetricConflictPolicy(replace: replace), keyName: keyName)
    }
}
