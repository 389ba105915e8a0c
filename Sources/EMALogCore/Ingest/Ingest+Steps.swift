import EMAKernel
import EMALogFormats
import EMALogStore
import Foundation

extension Ingest {
    /// A file for a step the log already has: identical is a no-op; different is refused unless `--replace`.
    func handleStoredStep(_ file: StepFile) throws {
        let stored = try store.read { r in try r.stepRecord(file.step) }
        guard let stored else {
            throw IngestError.olderStep(path: file.path, step: file.step, latest: lastStep ?? file.step)
        }
        try checkTensorSet(file)
        // The very file ingested before (same size and XXH64): identical without decoding a chunk.
        let digest = firstRead(file)
        let hash = digest.fileHash
        if stored.sourceSize == file.size && stored.sourceHash == hash {
            try file.checkUnchanged()
            report.stepsSkipped += 1
            removeIfRequested(file)
            return
        }
        guard stored.raw else {
            throw IngestError.rawNotKept(path: file.path, step: file.step, detail: "the log holds this step with another source "
                + "file, and its raw weights were left out by the log's retention policy, so they cannot be compared or replaced")
        }
        let difference = try firstDifference(file)
        try file.checkUnchanged()  // a comparison with bytes cut short under the mapping says nothing
        guard let difference else {
            report.stepsSkipped += 1
            removeIfRequested(file)
            return
        }
        guard request.replace else {
            throw IngestError.changedContent(path: file.path, step: file.step, detail: difference)
        }
        try refuseNonFinite(file, digest)
        try checkReplayableAfter(file)
        var rederive: [SnapshotKey] = []
        try guardedWrite { w in
            try beginWrite(w)
            _ = try appender.replace(stepRecord(for: file, hash: hash), StepFileSource(file, digest: digest, tensors: tensors),
                                     tensors: tensors, in: w)
            rederive = try w.deleteSnapshots(fromStep: file.step).map { SnapshotKey(track: $0.track, step: $0.step) }
        }
        snapshotsToRederive.formUnion(rederive)
        removeIfRequested(file)
        report.stepsReplaced += 1
        report.bytesWritten += file.header.dataLength
        storedSteps.reset()
        needsRestore = true
    }

    /// Where a file differs from the stored step, or nil when names, dtypes, shapes and bytes match.
    func firstDifference(_ file: StepFile) throws -> String? {
        try store.read { r in
            let previous = try r.rawNeighbours(of: file.step).below
            for info in file.header.tensors {
                let tensor = tensorsByName[info.name]!
                var differs = false
                try file.withBytes(of: info) { bytes in
                    try storedSteps.forEachChunk(of: tensor, step: file.step, previous: previous, r) { offset, chunk in
                        if !differs, !ByteCompare.equal(chunk, UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + chunk.count)])) {
                            differs = true
                        }
                        file.release(info, offset..<(offset + chunk.count))
                    }
                }
                if differs { return "tensor '\(info.name)' has different values" }
            }
            return nil
        }
    }

    /// A replaced step re-derives every later snapshot: the tracks replay from their snapshot
    /// before it to the last step, which needs those steps' raw weights.
    func checkReplayableAfter(_ file: StepFile) throws {
        guard let lastStep else { return }
        let missing = try store.read { r -> Int? in
            var from = file.step
            for track in tracks {
                guard let record = track.record else { continue }
                from = min(from, try r.snapshot(track: record.id, atOrBefore: file.step - 1)?.step ?? -1)
            }
            let range = (from + 1)...max(from + 1, lastStep)
            let raw = Set(try r.rawStepNumbers(in: range))
            return try r.stepNumbers(in: range).first { !raw.contains($0) && $0 != file.step }
        }
        if let missing {
            throw IngestError.rawNotKept(path: file.path, step: file.step, detail: "replacing it re-derives every later "
                + "snapshot, which needs the raw weights of step \(missing), and the log's retention policy left them out")
        }
    }

    /// Refuses a file whose tensor names, dtypes or shapes differ from the log's.
    func checkTensorSet(_ file: StepFile) throws {
        // A step of no tensors has nothing to average, and no later step could match it; except a
        // rank of sharded training that holds no slice (DDP's ranks past 0, HSDP's replicas): its
        // log keeps the steps (and what training gives with them) of that rank.
        let layout = try checkShardLayout(file)
        guard !file.header.tensors.isEmpty || layout != nil || (shardLayout != nil && tensors.isEmpty) else {
            throw IngestError.tensorSetChanged(path: file.path, step: file.step, detail: "it holds no tensors, and a step "
                + "holds the model's parameters (metrics alone go in a .jsonl file or M records)")
        }
        guard !tensors.isEmpty else {
            guard lastStep == nil || file.header.tensors.isEmpty else {  // a log written before this check: its steps hold no tensors
                throw IngestError.tensorSetChanged(path: file.path, step: file.step, detail: "the log's steps hold no tensors")
            }
            return
        }
        // A run's steps keep the log's order (its first step's): one comparison per tensor then.
        if file.header.tensors.count == tensors.count, zip(file.header.tensors, tensors).allSatisfy({
            $0.name.utf8.elementsEqual($1.name.utf8) && $0.dtype == $1.dtype && $0.shape == $1.shape
        }) { return }
        let names = Set(file.header.tensors.map(\.name))
        if let missing = tensors.first(where: { !names.contains($0.name) }) {
            throw IngestError.tensorSetChanged(path: file.path, step: file.step,
                                               detail: "tensor '\(missing.name)' of the log is missing from this file")
        }
        for info in file.header.tensors {
            guard let tensor = tensorsByName[info.name] else {
                throw IngestError.tensorSetChanged(path: file.path, step: file.step,
                                                   detail: "tensor '\(info.name)' is not in the log's earlier steps")
            }
            // Names are bytes: Swift's String equality would take a name in another Unicode
            // normalisation (NFD é for NFC é) as the same tensor, and raw would hand back the other bytes.
            guard tensor.name.utf8.elementsEqual(info.name.utf8) else {
                throw IngestError.tensorSetChanged(path: file.path, step: file.step, detail: "tensor "
                    + "\(JSONWriter.quoted(info.name)) is written with other bytes than the log's \(JSONWriter.quoted(tensor.name)) "
                    + "(another Unicode normalisation); names must be byte for byte the same")
            }
            if tensor.dtype != info.dtype {
                throw IngestError.tensorSetChanged(path: file.path, step: file.step,
                    detail: "tensor '\(info.name)' has dtype \(info.dtype.rawValue), the log's steps have \(tensor.dtype.rawValue)")
            }
            if tensor.shape != info.shape {
                throw IngestError.tensorSetChanged(path: file.path, step: file.step,
                    detail: "tensor '\(info.name)' has shape \(info.shapeText), the log's steps have \(TensorInfo.text(ofShape: tensor.shape))")
            }
        }
    }

    /// The first pass over a step's bytes (`StepDigest`): its hash, its chunks' hashes that
    /// everything stored from it is confirmed against, and NaN or infinity unless `--allow-nonfinite`.
    func firstRead(_ file: StepFile) -> StepDigest {
        StepDigest(of: file, layout: store.layout, findNonFinite: !request.allowNonFinite)
    }

    /// Refuses NaN or infinity in floating tensors (found by the first read) unless `--allow-nonfinite`.
    func refuseNonFinite(_ file: StepFile, _ digest: StepDigest) throws {
        guard !request.allowNonFinite, let (tensor, index, value) = digest.nonFinite else { return }
        throw IngestError.nonFinite(path: file.path, step: file.step, tensor: tensor, index: index, value: value)
    }

    func stepRecord(for file: StepFile, hash: UInt64) -> StepRecord {
        StepRecord(step: file.step, ingestID: ingestID!, sourcePath: file.isFile ? InputScan.absolute(file.path) : file.path,
                   sourceSize: file.size, sourceHash: hash, metadata: file.header.metadata,
                   ingestedAt: Timestamp.now())
    }

    /// Appends a new step: validate, update every live shadow in one pass, then store it (the
    /// store's `StepAppender` encodes its chunks) with any snapshot due, in one transaction. The
    /// log's first step stores the tensor set in the same transaction. Before anything commits,
    /// the step's file and the predecessors its residuals were computed against are checked
    /// unchanged: a file truncated or rewritten while it was read stores nothing.
    func append(_ file: StepFile, metrics: PreparedMetrics? = nil) throws {
        try checkTensorSet(file)
        let digest = firstRead(file)
        try refuseNonFinite(file, digest)
        let hash = digest.fileHash
        let previous = lastStep
        let first = firstStep ?? file.step
        let snapshotDue = crossesSnapshotBoundary(previous: previous, step: file.step)
        // A step the retention policy keeps for good is a keyframe: the steps before it can go
        // without re-encoding it.
        if let retention, file.step % retention.rawEvery == 0 { appender.keyframeNext() }
        // A small step whose transaction holds nothing else is encoded here and written on the
        // appender's writer queue while the next step is read, checked and encoded. The first step
        // (tensor set), the first write (audit trail, tracks), a snapshot (it reads the live
        // shadows) and large steps (encoded a few chunks at a time to bound memory) are written
        // here, in order after any pending write.
        if !tensors.isEmpty, !snapshotDue, ingestID != nil, tracks.allSatisfy({ $0.record != nil }), written.deferred.isEmpty,
           appender.canPipeline(bytes: file.header.dataLength) {
            try updateShadows(file, firstStep: first, previousStep: previous)
            let pending = metrics.map { PendingMetrics($0) }
            var also: (@Sendable (any LogWriter) throws -> Void)?
            if let pending { also = { w in try pending.write(w) } }
            try appender.appendPipelined(stepRecord(for: file, hash: hash), StepFileSource(file, digest: digest, tensors: tensors),
                                         tensors: tensors, also: also)
            if let pending { pendingMetrics.append(pending) }
            // It returns once the step before has committed (it waits for that write first):
            // what that write stored is accounted now, not at the next wait.
            accountCommittedMetrics(keepingLast: pending != nil)
            removeCommittedFile()
            if removes(file) { fileBeingWritten = file }
        } else {
            try waitForPendingWrite()
            let isFirst = tensors.isEmpty
            var metricsResult: MetricsWriteResult?
            // Steps held back before this one are stored with it, and a snapshot of every track
            // here then makes the log end where the tracks resume (`Ingest+Deferred.swift`).
            let flushing = !written.deferred.isEmpty
            try guardedWrite { w in
                try beginWrite(w)
                try writeDeferred(w, keeping: deferredWindow(before: true))
                if isFirst {
                    let layouts = file.header.tensors.map { TensorLayout(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
                    tensors = try w.insertTensors(layouts)
                    tensorsByName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
                }
                try updateShadows(file, firstStep: first, previousStep: previous)
                report.bytesStored += try appender.append(stepRecord(for: file, hash: hash),
                                                          StepFileSource(file, digest: digest, tensors: tensors), tensors: tensors, in: w)
                if snapshotDue || flushing { for track in tracks { try writeSnapshot(track, w) } }
                metricsResult = try metrics?.write(w)
            }
            if let metrics, let metricsResult { account(metricsResult, from: metrics.path) }
            removeIfRequested(file)
        }
        if previous == nil { shardLayout = try? ShardLayout.find(in: file.header.metadata) }
        firstStep = first
        lastStep = file.step
        report.stepsAdded += 1
        report.bytesWritten += file.header.dataLength
        if snapshotDue { try applyRetention(through: file.step, final: false) }
    }

    /// One update of every live shadow toward `file`'s floating tensors (or their start from it).
    func updateShadows(_ file: StepFile, firstStep first: Int, previousStep previous: Int?) throws {
        let actions = try tracks.indices.map { index -> (ShadowState, ShadowUpdate.Action) in
            if tracks[index].shadow == nil { tracks[index].shadow = try ShadowState(spec: tracks[index].spec, tensors: tensors) }
            let shadow = tracks[index].shadow!
            return (shadow, ShadowUpdate.action(for: shadow.spec, hasState: shadow.step != nil, step: file.step,
                                                firstStep: first, previousStep: previous))
        }
        for info in file.header.tensors where info.dtype.isFloating {
            file.forEachWindow(of: info) { offset, bytes in
                ShadowUpdate.apply(actions, tensor: tensorsByName[info.name]!, offset: offset, bytes: bytes)
            }
        }
        for (shadow, _) in actions { shadow.step = file.step }
    }

    /// A write transaction whose failure also undoes what it did to this ingest's state (`written`:
    /// the audit-trail id, stored tracks, the tensor set and the report). The live shadows may hold
    /// a step that did not commit: `abandonStep()` makes them derived again before the next step.
    func guardedWrite(_ body: (any LogWriter) throws -> Void) throws {
        let before = written
        do {
            try appender.write(body)
        } catch {
            written = before
            throw error
        }
    }

    /// Forgets a step that was read (its shadow update included) but not stored, so the ingest can
    /// go on (`--follow` reads a file again once its trainer has finished rewriting it): the live
    /// shadows are re-derived from the log before the next step, and that step is a keyframe.
    func abandonStep() {
        if lastStep == nil {
            for index in tracks.indices { tracks[index].shadow = nil }
        } else {
            needsRestore = true
        }
        appender.forgetPredecessors()
        storedSteps.reset()
    }

    /// Waits for the step on the appender's writer queue and takes its outcome (its error, if it failed).
    func waitForPendingWrite() throws {
        defer { pendingMetrics.removeAll() }
        report.bytesStored += try appender.waitForPendingWrite()
        accountCommittedMetrics(keepingLast: false)
        removeCommittedFile()
    }

    /// Accounts the metrics of pipelined writes that have committed: all of them, or all but the
    /// newest (`keepingLast`: its write may still be on the writer queue).
    func accountCommittedMetrics(keepingLast: Bool) {
        let done = keepingLast ? pendingMetrics.dropLast() : pendingMetrics[...]
        for pending in done {
            if let result = pending.result { account(result, from: pending.metrics.path) }
        }
        pendingMetrics.removeFirst(done.count)
    }

    /// With `--remove-ingested`, deletes the file of the pipelined step that has now committed.
    private func removeCommittedFile() {
        if let file = fileBeingWritten {
            fileBeingWritten = nil
            remove(file)
        }
    }

    /// With `--remove-ingested`, deletes a step file whose step the log holds (committed). The file
    /// may still be mapped as the next step's predecessor: unlinking leaves the mapping and its
    /// fstat checks as they were. A file that cannot be deleted is reported, not an error.
    func removeIfRequested(_ file: StepFile) {
        if removes(file) { remove(file) }
    }

    /// Whether `--remove-ingested` deletes `file` once its step is held (a frame has no file).
    private func removes(_ file: StepFile) -> Bool { request.removeIngested && file.isFile }

    /// Deletes `file` when the file at its path is still the one read (a file renamed over it or
    /// rewritten since was never read: it stays, reported).
    private func remove(_ file: StepFile) {
        guard file.isStillAtItsPath else {
            report.removalFailures.append("\(file.path): kept: it was replaced or changed after it was read")
            return
        }
        if unlink(file.path) == 0 { report.filesRemoved += 1 } else {
            report.removalFailures.append("\(file.path): \(String(cString: strerror(errno)))")
        }
    }

    /// Stores `track`'s live shadow as a snapshot at its step.
    func writeSnapshot(_ track: LiveTrack, _ w: any LogWriter) throws {
        guard let shadow = track.shadow, let step = shadow.step, let record = track.record else { return }
        let snapshot = try w.insertSnapshot(track: record.id, step: step)
        for tensor in tensors where tensor.dtype.isFloating {
            try shadow.withBytes(of: tensor) { try w.insertPlainChunks(of: tensor, in: .snapshot(snapshot.id), bytes: $0) }
        }
        report.snapshotsWritten += 1
    }

    /// Brings every track's live shadow to the last stored step: from its latest snapshot (or the
    /// first step for a new track) by replay, writing the snapshots due on the way.
    func restore() throws {
        defer { restored = true; needsRestore = false }
        guard let lastStep else { return }
        try request.hooks.beforeRestore?()
        try store.write { w in
            if tracks.contains(where: { $0.record == nil }) || !snapshotsToRederive.isEmpty { try beginWrite(w) }
            let replay = try Replay(reader: w)
            var shadows: [ShadowState] = []
            for index in tracks.indices {
                let shadow = try ShadowState(spec: tracks[index].spec, tensors: tensors)
                if let record = tracks[index].record, let snapshot = try w.snapshot(track: record.id, atOrBefore: lastStep) {
                    try replay.load(snapshot, into: shadow)
                }
                tracks[index].shadow = shadow
                shadows.append(shadow)
            }
            var storedSnapshots: Set<SnapshotKey> = []
            for track in tracks {
                for s in try w.snapshots(track: track.record!.id) { storedSnapshots.insert(SnapshotKey(track: s.trackID, step: s.step)) }
            }
            // Replay in segments that end where a snapshot is due, writing it there.
            let begin = shadows.map { $0.step ?? Int.min }.min() ?? lastStep
            // Only the steps past the shadows are read (a resumed ingest of a 100k-step log reads
            // the few since the last snapshot).
            var due: [Int] = []
            if begin < lastStep {
                var previous = begin == Int.min ? nil : try replay.step(before: begin + 1)
                for step in try w.stepNumbers(in: (begin + 1)...lastStep) {
                    defer { previous = step }
                    if crossesSnapshotBoundary(previous: previous, step: step)
                        || tracks.contains(where: { snapshotsToRederive.contains(SnapshotKey(track: $0.record!.id, step: step)) }) {
                        due.append(step)
                    }
                }
            }
            for step in due + [lastStep] {
                try replay.advance(shadows, to: step)
                for track in tracks where track.shadow?.step == step {
                    let key = SnapshotKey(track: track.record!.id, step: step)
                    if step != lastStep || due.contains(step), !storedSnapshots.contains(key) {
                        try writeSnapshot(track, w)
                        storedSnapshots.insert(key)
                    }
                }
                observer.progress("replay", done: step, total: lastStep)
            }
            if !snapshotsToRederive.isEmpty { try w.settleOwedSnapshots() }
        }
        snapshotsToRederive.removeAll()
    }

    /// Every track gets a snapshot at the last step, when this ingest changed anything.
    func snapshotAtEnd() throws {
        guard let lastStep, ingestID != nil else { return }
        if !restored { try restore() }
        try store.write { w in
            for track in tracks {
                guard let record = track.record, track.shadow?.step == lastStep else { continue }
                if try w.snapshot(track: record.id, atOrBefore: lastStep)?.step != lastStep {
                    try writeSnapshot(track, w)
                }
            }
        }
    }
}
