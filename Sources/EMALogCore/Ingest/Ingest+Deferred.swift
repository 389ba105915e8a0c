import EMALogFormats
import EMALogStore

/// Steps a retention policy leaves without raw weights are not encoded at all: such a step goes
/// into every track (the one pass over its bytes that matters), and its record (raw = false) is
/// stored in the transaction of the next step that is stored whole, with a snapshot of every track
/// there. So the log always ends at a step every track resumes from (the invariant a killed ingest
/// relies on), and a step the policy drops costs its first read and its shadow update, not an
/// encode, a write and a later thinning.
///
/// What a deferred step may still need is kept while it can be asked for: the bytes of the last N
/// deferred steps (`--raw-keep-last N`; at least the latest one, for a pin of it), stored as raw
/// keyframes when the ingest ends or a pin names one. Its metrics are stored with its record. If
/// the ingest process dies, the deferred steps are lost (records and metrics): at most the steps
/// since the last stored one, and the log stays consistent.
extension Ingest {
    /// A step every track has taken, not yet stored.
    struct DeferredStep {
        var record: StepRecord
        /// Its bytes, while it may still be kept (the last N of the policy, a pin of it).
        var source: StepFileSource?
        /// Its own metrics, stored with its record (a step and its metrics commit together).
        var metrics: PreparedMetrics?
    }

    /// Whether `file`'s step is taken without storing it now: a retention policy leaves its raw
    /// weights out (not the log's first step, not a multiple of K, no snapshot due), and nothing
    /// else this ingest does needs it stored (no `--replace`, no `--follow`, nothing to restore).
    func defers(_ file: StepFile, snapshotDue: Bool) -> Bool {
        guard let retention, !snapshotDue, !request.replace, !request.follow, restored, !needsRestore,
              snapshotsToRederive.isEmpty, ingestID != nil, !tensors.isEmpty, tracks.allSatisfy({ $0.record != nil }),
              let first = firstStep, file.step != first, file.step % retention.rawEvery != 0 else { return false }
        return true
    }

    /// Takes a step the policy leaves out (see `defers`): checked like any step, then every track
    /// updated; its record waits in `written.deferred`.
    func appendDeferred(_ file: StepFile, metrics: MetricsFile?) throws {
        try checkTensorSet(file)
        let digest = firstRead(file)
        try refuseNonFinite(file, digest)
        try waitForPendingWrite()
        try updateShadows(file, firstStep: firstStep!, previousStep: lastStep)
        do {
            try file.checkUnchanged()
        } catch {
            // The tracks took bytes that changed under them: nothing since the last stored step
            // can be stored with them. The log ends there, consistent.
            discardDeferred(because: "step \(file.step) changed while it was read")
            throw error
        }
        // The next stored step is a keyframe: its residuals would reach back across left-out steps.
        appender.forgetPredecessors()
        let keep = max(1, retention?.rawKeepLast ?? 0)
        written.deferred.append(DeferredStep(record: stepRecord(for: file, hash: digest.fileHash),
                                             source: StepFileSource(file, digest: digest, tensors: tensors),
                                             metrics: metrics.flatMap(prepareMetrics)))
        for index in written.deferred.indices.dropLast(keep) where written.deferred[index].source != nil {
            let held = written.deferred[index].source!.file
            written.deferred[index].source = nil
            removeIfRequested(held)
        }
        lastStep = file.step
        report.stepsAdded += 1
        report.bytesWritten += file.header.dataLength
    }

    /// A step given again that is still deferred: the same bytes (size and XXH64) are skipped as
    /// identical, others refused as a stored step's would be (`--replace` never defers).
    func handleDeferredStep(_ file: StepFile, metrics: MetricsFile?) throws -> Bool {
        guard let index = written.deferred.firstIndex(where: { $0.record.step == file.step }) else { return false }
        let record = written.deferred[index].record
        try checkTensorSet(file)
        let hash = firstRead(file).fileHash
        try file.checkUnchanged()
        guard record.sourceSize == file.size, record.sourceHash == hash else {
            throw IngestError.changedContent(path: file.path, step: file.step, detail: "its bytes differ from the step "
                + "given before (not stored yet: the retention policy leaves out its raw weights, so only its hash is kept)")
        }
        report.stepsSkipped += 1
        removeIfRequested(file)
        if let metrics { try storeMetrics(metrics) }
        return true
    }

    /// Stores the deferred steps' records inside `w` (raw = false), and as raw keyframes those of
    /// `keeping` whose bytes are still held; empties the list. The caller writes a snapshot of every
    /// track at the last of them (or at a later step stored in `w`).
    func writeDeferred(_ w: any LogWriter, keeping: Set<Int> = []) throws {
        for step in written.deferred {
            var record = step.record
            if keeping.contains(record.step), let source = step.source {
                report.bytesStored += try appender.appendKeyframe(record, source, tensors: tensors, in: w)
            } else {
                record.raw = false
                try w.insertStep(record)
                report.thinning.steps += 1
            }
            if let metrics = step.metrics { account(try metrics.write(w), from: metrics.path) }
        }
        written.deferred.removeAll()
    }

    /// The deferred steps among the last N of the policy: at the end of the ingest, or (`before`
    /// another step stored now) counting that step. Stored raw, they are left out later by the
    /// retention pass once newer steps push them out (`applyRetention`).
    func deferredWindow(before another: Bool = false) -> Set<Int> {
        let n = max(0, (retention?.rawKeepLast ?? 0) - (another ? 1 : 0))
        return Set(written.deferred.suffix(n).map(\.record.step))
    }

    /// Stores the deferred steps now, with a snapshot of every track at the last of them (whose
    /// step the tracks are at): at the end of the ingest or for a pin (`pinning` keeps its raw
    /// weights, as the last N steps do). Files held are deleted with
    /// `--remove-ingested` once committed.
    func commitDeferred(pinning: Int? = nil, also: ((any LogWriter) throws -> Void)? = nil) throws {
        guard let last = written.deferred.last?.record.step else { return }
        try waitForPendingWrite()
        let held = written.deferred.compactMap { $0.source?.file }
        // Every deferred step is written now: those among the last N keep their bytes, whatever
        // the reason (a pin, the end).
        var keeping = deferredWindow()
        if let pinning { keeping.insert(pinning) }
        try guardedWrite { w in
            try writeDeferred(w, keeping: keeping)
            for track in tracks where track.shadow?.step == last { try writeSnapshot(track, w) }
            try also?(w)
        }
        for file in held { removeIfRequested(file) }
    }

    /// After an error: the deferred steps are stored when every track is still at the last of them
    /// (the error came before any track took another step), else dropped with a warning.
    func commitDeferredAfterError() {
        guard let last = written.deferred.last?.record.step else { return }
        guard tracks.allSatisfy({ $0.shadow?.step == last }) else {
            discardDeferred(because: "the tracks went past them before the error")
            return
        }
        do { try commitDeferred() } catch {
            discardDeferred(because: "\(error)")
        }
    }

    /// Forgets the deferred steps (not stored), saying so.
    func discardDeferred(because reason: String) {
        guard let first = written.deferred.first?.record.step, let last = written.deferred.last?.record.step else { return }
        observer.warning("steps \(first) to \(last) went into the tracks but are not stored (\(reason)); the log ends "
            + "before them, at a step every track resumes from")
        written.deferred.removeAll()
        lastStep = try? store.read { r in try r.lastStep() }
        needsRestore = true
    }

    /// A pin of a deferred step (`P` record): stored now with its raw weights when they are still
    /// held, else a warning (the policy left them out).
    func pinDeferred(step: Int, name: String) throws -> Bool {
        guard let deferred = written.deferred.first(where: { $0.record.step == step }) else { return false }
        guard deferred.source != nil else {
            observer.warning("pin '\(name.prefix(200))' of step \(step) not taken: the log's retention policy left out "
                + "its raw weights (pin a step right after it is logged)")
            return true
        }
        try LogEdit.checkName(name)
        try commitDeferred(pinning: step) { w in _ = try LogEdit.pin(step: step, name: name, in: w) }
        return true
    }
}
