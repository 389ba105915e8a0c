import EMAKernel
import EMALogFormats
public import EMALogStore
import Foundation

/// The ingest use case: steps and metrics into a log, EMA tracks kept live and snapshotted.
///
/// Order of work: metrics files are decoded first (a bad line stops before anything is stored);
/// stored steps given again are compared (identical: skipped) or replaced; the live shadows are
/// restored from snapshots by replay; new steps are appended one transaction each; metrics are
/// stored a file per transaction; every track gets a snapshot at the last step.
public final class Ingest {
    let request: IngestRequest
    let observer: any ProgressObserver
    /// The log, opened for this ingest (it holds the ingest lock).
    let store: any LogStore
    /// Stores the raw steps: chunks, keyframes, residuals, the write pipeline.
    let appender: StepAppender
    /// What a write transaction may change here, as one value: a transaction that fails puts back
    /// the value it started from (`guardedWrite`), so this state and the log never disagree.
    var written = Written()
    var report: IngestReport {
        get { written.report }
        set { written.report = newValue }
    }
    /// Metrics written in the transaction of the pipelined step (their outcome, once it committed).
    var pendingMetrics: [PendingMetrics] = []
    /// With `--remove-ingested`: the file of the pipelined step whose write may not have committed yet.
    var fileBeingWritten: StepFile?

    var tensors: [TensorRecord] {
        get { written.tensors }
        set { written.tensors = newValue }
    }
    var tensorsByName: [String: TensorRecord] {
        get { written.tensorsByName }
        set { written.tensorsByName = newValue }
    }
    var firstStep: Int?
    var lastStep: Int?
    /// The slice of the model this rank's log holds (`Ingest+Shards.swift`): its first step's.
    var shardLayout: ShardLayout?
    var tracks: [LiveTrack] {
        get { written.tracks }
        set { written.tracks = newValue }
    }
    var ingestID: Int64? {
        get { written.ingestID }
        set { written.ingestID = newValue }
    }
    /// Set when restore must run before appending (new tracks, replaced steps).
    var needsRestore = false
    var restored = false
    /// Decodes stored steps given again, in order, for the identical-content check.
    let storedSteps = SequentialStepReader()
    /// Snapshots deleted by `--replace`, to write again during restore.
    var snapshotsToRederive: Set<SnapshotKey> = []
    /// When `run` began (metrics decoding included in the reported time).
    var started = Date()
    /// The retention policy in effect: the request's, else the log's (`Ingest+Retention.swift`).
    var retention: RetentionPolicy?
    /// Snapshot whenever a step crosses a multiple of this: the request's, else the policy's K, else 1000.
    var snapshotEvery = 1000
    /// The first step a retention pass still has to decide (steps before it were decided).
    var undecidedFrom: Int?
    /// Whether the log has steps whose raw weights were left out (a new track cannot start).
    var thinned = false

    /// The part of the ingest's state that its write transactions change.
    struct Written {
        /// This ingest's audit-trail id, once it has written something.
        var ingestID: Int64?
        /// The log's tensor set (empty before its first step), by name.
        var tensors: [TensorRecord] = []
        var tensorsByName: [String: TensorRecord] = [:]
        /// Tracks with their specs; `record` is nil until the track is stored. (A track's shadow
        /// is a buffer updated in place: a step that does not commit is undone by `abandonStep`.)
        var tracks: [LiveTrack] = []
        var report = IngestReport()
        /// Steps every track has taken whose records are stored with the next stored step
        /// (`Ingest+Deferred.swift`).
        var deferred: [DeferredStep] = []
    }

    struct LiveTrack {
        var spec: EMASpec
        var record: TrackRecord?
        var shadow: ShadowState?
    }

    struct SnapshotKey: Hashable {
        var track: Int64
        var step: Int
    }

    /// Runs an ingest into the log at `request.logPath` (created when missing); returns its report.
    /// Throws `IngestError`, `StoreError` or `EMASpecError`.
    public static func run(_ request: IngestRequest, observer: any ProgressObserver = SilentObserver()) throws -> IngestReport {
        try run(request, observer: observer) { try LogStores.openForIngest(request.logPath, chunkBytes: request.chunkBytes) }
    }

    /// Runs an ingest into the store `open` returns (called once the inputs are read, so a bad
    /// input never opens the log); the store is closed at the end. `request.logPath` is ignored.
    public static func run(_ request: IngestRequest, observer: any ProgressObserver = SilentObserver(),
                           into open: () throws -> any LogStore) throws -> IngestReport {
        let started = Date()
        if request.inputs == ["-"] { return try runStream(request, observer: observer, started: started, into: open) }
        let scan = try InputScan(inputs: request.inputs, waitingForMissing: request.follow)
        if scan.stepFiles.isEmpty && scan.metricsFiles.isEmpty && scan.folders.isEmpty && scan.missing.isEmpty {
            throw IngestError.noInputs
        }
        for path in scan.missing {
            observer.warning("\(path): does not exist yet; waiting for it to appear")
        }
        if !request.follow {
            for folder in scan.folders where !scan.stepFiles.contains(where: { $0.path.hasPrefix(folder) }) {
                observer.warning("\(folder): no *.safetensors files in this folder")
            }
        }
        var metrics: [MetricsFile] = []
        for path in scan.metricsFiles {
            metrics.append(try MetricsFile.read(path: path, allowPartialTail: request.follow))
        }
        return try running(request, observer: observer, started: started, into: open) { ingest in
            try ingest.ingest(scan: scan, metrics: metrics)
        }
    }

    /// Opens the store, runs `body` on an ingest over it, waits for the last write and closes the
    /// store, also when `body` throws (a step already handed to the writer still commits). A log
    /// created here and left without a recorded ingest is removed again when closed.
    private static func running(_ request: IngestRequest, observer: any ProgressObserver, started: Date,
                                into open: () throws -> any LogStore, _ body: (Ingest) throws -> Void) throws -> IngestReport {
        let store = try open()
        let ingest: Ingest
        do {
            ingest = try Ingest(request: request, observer: observer, store: store)
        } catch {
            try? store.close()
            throw error
        }
        ingest.started = started
        do {
            try body(ingest)
            try ingest.waitForPendingWrite()
        } catch {
            try? ingest.waitForPendingWrite()
            ingest.commitDeferredAfterError()
            try? store.close()
            throw error
        }
        try store.close()
        // Closing checkpoints the WAL into the log file: part of what the ingest cost.
        ingest.report.seconds = Date().timeIntervalSince(started)
        return ingest.report
    }

    /// `ingest -`: the records of the stream on stdin (`StepStream`), each step committed as it
    /// comes (pipelined like files), metrics stored in batches between steps.
    private static func runStream(_ request: IngestRequest, observer: any ProgressObserver, started: Date,
                                  into open: () throws -> any LogStore) throws -> IngestReport {
        try running(request, observer: observer, started: started, into: open) { ingest in
            let source = request.streamSource ?? "stdin"
            var stream = StepStream(fd: request.streamDescriptor, source: source, stop: request.stop,
                                    slotsDescriptor: request.sharedMemoryDescriptor)
            var lines: [MetricsLine] = []
            func storeLines() throws {
                guard !lines.isEmpty else { return }
                try ingest.storeMetrics(MetricsFile(path: source, lines: lines))
                lines.removeAll(keepingCapacity: true)
            }
            // The lines of a step's own metrics that came before it commit in that step's
            // transaction (the Logger sends them just before it), or go with it when it is
            // refused; lines of other steps (late evaluations) are stored first, on their own.
            func takeLines(for step: Int) throws -> MetricsFile? {
                let own = lines.filter { $0.step == step }
                lines.removeAll { $0.step == step }
                try storeLines()
                return own.isEmpty ? nil : MetricsFile(path: source, lines: own)
            }
            while let record = try nextRecord(&stream, storing: storeLines) {
                switch record {
                case let .step(file):
                    try ingest.ingestStep(file, metrics: takeLines(for: file.step))
                case let .file(path):
                    let file: StepFile
                    do { file = try StepFile(path: path, hooks: request.hooks) } catch {
                        try storeLines()
                        throw error
                    }
                    try ingest.ingestStep(file, metrics: takeLines(for: file.step))
                case let .metrics(more):
                    lines += more
                    if lines.count >= 4096 { try storeLines() }
                    continue
                case let .pin(step, name):
                    try storeLines()
                    try ingest.pin(step: step, name: name)
                    continue
                }
                observer.progress("ingest", done: ingest.report.stepsAdded + ingest.report.stepsSkipped, total: 0)
            }
            if request.stop.requested { ingest.report.interrupted = true }
            try storeLines()
            try ingest.finishSteps()
        }
    }

    /// The stream's next record; a bad or cut-short one first stores the metrics read before it
    /// (the records before it are stored, as its message says).
    private static func nextRecord(_ stream: inout StepStream, storing storeLines: () throws -> Void) throws -> StepStream.Record? {
        do {
            return try stream.next()
        } catch {
            try storeLines()
            throw error
        }
    }

    private init(request: IngestRequest, observer: any ProgressObserver, store: any LogStore) throws {
        self.request = request
        self.observer = observer
        self.store = store
        appender = StepAppender(store: store, keyframeEvery: request.keyframeEvery)
        try store.read { r in
            tensors = try r.tensors()
            firstStep = try r.firstStep()
            lastStep = try r.lastStep()
            shardLayout = try Self.storedShardLayout(try firstStep.flatMap { try r.stepRecord($0) })
            tracks = try r.tracks().map { record in
                let spec = try record.profile()
                return LiveTrack(spec: spec, record: record)
            }
            // Snapshots a replaced step took away, when the ingest that replaced it was stopped
            // before it wrote them again: this one does.
            for owed in try r.owedSnapshots() { snapshotsToRederive.insert(SnapshotKey(track: owed.track, step: owed.step)) }
            let logs = try r.ingests().retention
            retention = try Self.retention(request, logs: logs)
            // A policy applies to the steps ingested under it: one this ingest brings leaves the
            // steps before alone (`emalog prune` is for them).
            if logs == nil, retention != nil, let lastStep { undecidedFrom = lastStep + 1 }
            if let lastStep { thinned = try r.rawStepNumbers(in: 0...lastStep).count != r.stepNumbers(in: 0...lastStep).count }
        }
        snapshotEvery = request.snapshotEvery ?? retention?.rawEvery ?? 1000
        needsRestore = !snapshotsToRederive.isEmpty
        tensorsByName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
        try addRequestedTracks()
    }

    /// Adds `--ema` tracks not yet stored; a stored name with another profile is refused.
    private func addRequestedTracks() throws {
        for spec in request.tracks {
            if let existing = tracks.first(where: { $0.spec.name == spec.name }) {
                guard existing.spec.hasSameProfile(as: spec) else {
                    throw IngestError.trackConflict(name: spec.name, stored: existing.spec.canonical, given: spec.canonical)
                }
                continue
            }
            if tracks.contains(where: { $0.record == nil && $0.spec.name == spec.name }) { continue }
            if thinned, let lastStep { throw IngestError.trackNeedsRawSteps(name: spec.name, lastStep: lastStep) }
            tracks.append(LiveTrack(spec: spec, record: nil))
            if lastStep != nil { needsRestore = true }
        }
    }

    private func ingest(scan: InputScan, metrics: [MetricsFile]) throws {
        // With --follow, step files (in folders or named) are taken by the watch loop, in step
        // order, which waits for incomplete ones.
        let ordered = request.follow ? [] : try scan.orderedStepFiles()
        var total = ordered.count
        var done = 0
        for candidate in ordered {
            if request.follow && request.stop.requested { report.interrupted = true; break }
            try ingestStep(at: candidate.path)
            done += 1
            observer.progress("ingest", done: done, total: total)
        }
        try waitForPendingWrite()
        var metricsState = try storeMetrics(metrics)
        if request.follow {  // also when stopped already: it reports the backlog
            try follow(scan: scan, seen: Set(ordered.map { InputScan.absolute($0.path) }), metrics: &metricsState,
                       total: &total, done: &done)
        }
        try finishSteps()
        report.seconds = Date().timeIntervalSince(started)
    }

    /// After the last input: the last write committed, the live shadows restored if a replaced
    /// step or a new track left them behind, and a snapshot of every track at the last step.
    private func finishSteps() throws {
        try commitDeferred()
        try waitForPendingWrite()
        if needsRestore { try restore() }
        try snapshotAtEnd()
        if let lastStep { try applyRetention(through: lastStep, final: true) }
        // The raw steps a policy left out free their pages for the next steps; at the end, a log
        // left a quarter free or more is compacted (the file then takes what the log holds).
        if report.thinning.steps > 0, try store.freeFraction() >= 0.25 { try store.compact() }
    }

    /// One step file: compared when stored, appended when new.
    func ingestStep(at path: String, metrics: MetricsFile? = nil) throws {
        try ingestStep(StepFile(path: path, hooks: request.hooks), metrics: metrics)
    }

    /// One opened step file: compared when stored, appended when new. `metrics` (the step's own)
    /// are stored in the new step's transaction, or once a stored step is found identical or
    /// replaced; a refused step takes them with it.
    func ingestStep(_ file: StepFile, metrics: MetricsFile? = nil) throws {
        if let lastStep, file.step <= lastStep {
            if try handleDeferredStep(file, metrics: metrics) { return }
            try waitForPendingWrite()
            try handleStoredStep(file)
            if let metrics { try storeMetrics(metrics) }
        } else {
            if needsRestore || !restored {
                try waitForPendingWrite()
                try restore()
            }
            if defers(file, snapshotDue: crossesSnapshotBoundary(previous: lastStep, step: file.step)) {
                try appendDeferred(file, metrics: metrics)
                return
            }
            try append(file, metrics: metrics.flatMap(prepareMetrics))
        }
    }

    /// Opens this ingest's audit-trail record and stores pending tracks, inside a write transaction.
    func beginWrite(_ w: any LogWriter) throws {
        if ingestID == nil {
            ingestID = try w.insertIngest(arguments: request.arguments, configuration: configurationJSON(migrations: try w.appliedMigrations()))
        }
        for index in tracks.indices where tracks[index].record == nil {
            tracks[index].record = try w.insertTrack(name: tracks[index].spec.name, spec: tracks[index].spec.canonical,
                                                     ingestID: ingestID!)
        }
    }

    private func configurationJSON(migrations: [String]) -> String {
        var json = JSONWriter()
        json.object { json in
            json.field("tracks", tracks.map(\.spec.description))
            json.field("snapshot_every", snapshotEvery)
            if let retention {
                json.field("raw_every", retention.rawEvery)
                json.field("raw_keep_last", retention.rawKeepLast)
            }
            json.field("replace", request.replace)
            json.field("allow_nonfinite", request.allowNonFinite)
            json.field("follow", request.follow)
            json.field("keyframe_every", request.keyframeEvery)
            json.field("emalog_version", EMALogVersion.current)
            json.field("migrations", migrations)
        }
        return json.text
    }

    /// True when a snapshot is due at `step`: a multiple of the interval lies in (previous, step].
    func crossesSnapshotBoundary(previous: Int?, step: Int) -> Bool {
        let k = snapshotEvery
        guard let previous else { return step % k == 0 }
        return step / k != previous / k
    }
}
