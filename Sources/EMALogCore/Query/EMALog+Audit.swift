import EMAKernel
import EMALogFormats
import EMALogStore
import Foundation

extension EMALog {
    /// Checks the log end to end: SQLite's own integrity check, the schema, the audit trail and the
    /// sequence of steps it recorded, every raw chunk against its checksum and size, every snapshot
    /// against a fresh replay from the first step (bit for bit), the metric rows, and, given
    /// `sources` (a folder), every step's source file by name against its recorded size and XXH64.
    ///
    /// Damage is reported, never thrown: a schema emalog did not write (nothing else is read
    /// then), values that fail validation, chunks that fail their checksum, snapshots that differ.
    /// Only a log that cannot be reached (missing, busy, I/O) throws.
    public func audit(sources: String? = nil, observer: any ProgressObserver = SilentObserver()) throws -> AuditReport {
        if !shards.isEmpty { return try shardedAudit(sources: sources, observer: observer) }
        let started = Date()
        var report = AuditReport()
        try store.read { r in
            for problem in try r.integrityCheck() where problem != "ok" { report.add(.sqlite, "SQLite: \(problem)") }
            guard store.unreadable.isEmpty else {
                for problem in store.unreadable {
                    if problem.hasPrefix("schema: ") {
                        report.add(.schema, String(problem.dropFirst("schema: ".count)))
                    } else {
                        report.add(.settings, String(problem.dropFirst(problem.hasPrefix("settings: ") ? "settings: ".count : 0)))
                    }
                }
                report.add(.schema, "the log's tables were not read: a log is data, never code, and this one is not as emalog writes it")
                return
            }
            do {
                try auditContent(r, sources: sources, &report, observer)
            } catch let error as StoreError where error.isDamage {
                report.add(.content, "\(error)")
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    private func auditContent(_ r: any LogReader, sources: String?, _ report: inout AuditReport, _ observer: any ProgressObserver) throws {
        let replay = try Replay(reader: r)
        let steps = try r.stepNumbers()
        var records: [StepRecord] = []
        for step in steps {
            do {
                if let record = try r.stepRecord(step) { records.append(record) }
            } catch let error as StoreError where error.isDamage {
                report.add(.stepRecord, step: step, "\(error)")
            }
        }
        auditSequence(records, r, &report)
        auditMetrics(r, &report)
        do {
            _ = try r.pins()  // validated as every reader reads them
        } catch let error as StoreError where error.isDamage {
            report.add(.pin, "\(error)")
        }
        if let sources { auditSources(records, in: sources, &report, observer) }
        report.stepsChecked = steps.count
        let rawSteps = records.filter(\.raw).map(\.step)
        if rawSteps.count < records.count {
            report.stepsWithoutRaw = records.count - rawSteps.count
            try auditThinned(replay, records, r, &report, observer)
        } else {
            try auditChunksAndSnapshots(replay, steps, r, &report, observer)
        }
        // After the replay, which a content finding would stop: the totals are not what it reads.
        for problem in try r.totalsProblems() { report.add(.content, problem) }
    }

    /// Every step's ingest is recorded, and steps come in the order the ingests wrote them: a step
    /// below another written by a later ingest was written by an ingest that replaced steps
    /// (`--replace`), the only way an ingest writes below the log's latest step.
    private func auditSequence(_ records: [StepRecord], _ r: any LogReader, _ report: inout AuditReport) {
        let ingests: [IngestRecord]
        do { ingests = try r.ingests() } catch {
            report.add(.ingest, "\(error)")
            return
        }
        report.ingestsChecked = ingests.count
        var replacing: [Int64: Bool] = [:]
        for ingest in ingests {
            if ingest.truncatedAfter != nil || ingest.isPrune { continue }  // `truncate`, `prune`: they write no step
            guard let replace = Self.replaceSetting(ingest.configuration) else {
                report.add(.ingest, "ingest \(ingest.id): its configuration is not a JSON object with a boolean 'replace': "
                    + "'\(ingest.configuration.prefix(80))'")
                continue
            }
            replacing[ingest.id] = replace
        }
        // The latest non-replacing ingest among the steps below, and its first step.
        var latestAppend: (ingest: Int64, step: Int)?
        for record in records {
            guard let replace = replacing[record.ingestID] else {
                if !ingests.contains(where: { $0.id == record.ingestID }) {
                    report.add(.sequence, step: record.step, "step \(record.step): written by ingest \(record.ingestID), "
                        + "which the audit trail does not hold")
                }
                continue
            }
            if let latest = latestAppend, record.ingestID < latest.ingest {
                report.add(.sequence, step: record.step, "step \(record.step): written by ingest \(record.ingestID), "
                    + "after step \(latest.step) of the later ingest \(latest.ingest), which replaced nothing")
            }
            if !replace, record.ingestID > (latestAppend?.ingest ?? Int64.min) { latestAppend = (record.ingestID, record.step) }
        }
        auditContinuations(records, replacing: replacing, &report)
    }

    /// A replacing ingest that wrote a run of two or more consecutive steps below steps an earlier
    /// ingest wrote: the log holds two continuations of training (one resumed from a checkpoint,
    /// the abandoned one's later steps still there). A resumed training writes consecutive steps;
    /// replaced steps with earlier ones between them, or one replaced step, are files fixed.
    private func auditContinuations(_ records: [StepRecord], replacing: [Int64: Bool], _ report: inout AuditReport) {
        for (ingest, replace) in replacing.sorted(by: { $0.key < $1.key }) where replace {
            guard let start = records.firstIndex(where: { $0.ingestID == ingest }) else { continue }
            // The run of this ingest's steps from its first, with no other ingest's step between.
            let run = records[start...].prefix { $0.ingestID == ingest }.map(\.step)
            guard run.count >= 2, let first = run.first, let end = run.last else { continue }
            let older = records.filter { $0.step > end && $0.ingestID < ingest }.map(\.step)
            guard let from = older.first, let to = older.last else { continue }
            report.add(.continuation, step: from, "steps \(first) to \(end) were written by ingest \(ingest), which replaced them, but "
                + "steps \(from) to \(to) after them are from an earlier ingest: the log mixes two continuations of training "
                + "(a run resumed from a checkpoint without truncating the log there); if training resumed, truncate the log "
                + "after step \(end) and ingest the resumed run's steps after it")
        }
    }

    /// The `replace` option of an ingest's configuration; nil when it is not a JSON object holding one.
    static func replaceSetting(_ configuration: String) -> Bool? {
        guard case let .object(members)? = try? JSONParser.parse(Array(configuration.utf8)),
              case let .bool(replace)? = members.first(where: { $0.key == "replace" })?.value else { return nil }
        return replace
    }

    private func auditMetrics(_ r: any LogReader, _ report: inout AuditReport) {
        do {
            for row in try r.damagedMetricRows() {
                report.add(.metric, step: row.step, "step \(row.step): the metric row of key id \(row.keyID): \(row.problem)")
            }
        } catch {
            report.add(.metric, "\(error)")
        }
    }

    /// Each step's source file, found by its recorded name in `folder`, against its recorded size and XXH64.
    private func auditSources(_ records: [StepRecord], in folder: String, _ report: inout AuditReport, _ observer: any ProgressObserver) {
        for (done, record) in records.enumerated() {
            let name = (record.sourcePath as NSString).lastPathComponent
            let file = (folder as NSString).appendingPathComponent(name)
            report.sourcesChecked += 1
            switch SourceFile.check(file, size: record.sourceSize, hash: record.sourceHash) {
            case .same: break
            case let .missing(reason):
                report.add(.sourceMissing, step: record.step, file: file, "step \(record.step): its source \(file) \(reason)")
            case let .changed(reason):
                report.add(.sourceChanged, step: record.step, file: file, "step \(record.step): its source \(file) \(reason)")
            }
            observer.progress("sources", done: done + 1, total: records.count)
        }
    }

    /// Every chunk of every step decoded and checked, and every snapshot of every track against a
    /// replay from the first step, bit for bit, in one pass: the replay that re-derives the
    /// snapshots decodes every floating chunk at every step (checksum and size) on the way, and
    /// goes on to the last step. Only when that pass meets damage does a second, chunk-major pass
    /// name every damaged chunk (a replay stops at the first); integer tensors, which no replay
    /// reads, are checked chunk-major.
    private func auditChunksAndSnapshots(_ replay: Replay, _ steps: [Int], _ r: any LogReader, _ report: inout AuditReport,
                                         _ observer: any ProgressObserver) throws {
        try auditChunkCounts(replay, r, &report)
        try verifyChunks(replay.tensors.filter { !$0.dtype.isFloating }, steps, r, &report, observer)
        let shadows = try trackShadows(replay, r, &report)
        var snapshotsByStep: [Int: [(ShadowState, TrackRecord, SnapshotRecord)]] = [:]
        for (track, shadow) in shadows {
            for snapshot in try r.snapshots(track: track.id) { snapshotsByStep[snapshot.step, default: []].append((shadow, track, snapshot)) }
        }
        let floating = replay.floating
        guard !report.findings.contains(where: { [.chunk, .track, .stepRecord, .content].contains($0.kind) }) else {
            // A replay over damaged chunks says nothing about the snapshots; name every damaged chunk.
            try verifyChunks(floating, steps, r, &report, observer)
            return
        }
        let chunkSteps = floating.reduce(0) { $0 + r.layout.ranges(of: $1).count } * steps.count
        var base = 0
        let progress: (Int, Int) -> Void = { done, _ in observer.progress("verify", done: min(base + done, chunkSteps), total: chunkSteps) }
        var checked = 0
        defer { report.snapshotsChecked = checked }
        do {
            for step in snapshotsByStep.keys.sorted() {
                let through = StepNumber.count(below: step + 1, in: steps)  // stored steps up to this one
                guard through > 0, steps[through - 1] == step else {
                    report.add(.snapshot, step: step, "snapshots at step \(step), which the log does not hold")
                    continue
                }
                try replay.advance(shadows.map(\.1), to: step, progress: progress)
                base = chunkSteps * through / max(steps.count, 1)
                for (shadow, track, snapshot) in snapshotsByStep[step]! {
                    checked += 1
                    let problem: (tensor: String?, detail: String)?
                    do { problem = try compare(shadow, with: snapshot, replay, r) } catch { problem = (nil, "\(error)") }
                    if let problem {
                        report.add(.snapshot, step: step, tensor: problem.tensor, "track '\(track.name)' snapshot at step \(step): \(problem.detail)")
                    }
                }
            }
            if let last = steps.last {
                if shadows.isEmpty { try replay.decodeAll(through: last, progress: progress) } else {
                    try replay.advance(shadows.map(\.1), to: last, progress: progress)
                }
            }
            report.chunksVerified += chunkSteps
        } catch let error as StoreError where error.isDamage {
            // The replay stopped at the first damaged chunk (the snapshots compared before it
            // stand): find every damaged chunk, chunk-major.
            try verifyChunks(floating, steps, r, &report, observer)
            if !report.findings.contains(where: { $0.kind == .chunk }) { report.add(.content, "\(error)") }
        }
    }

    /// A fresh shadow for every track whose spec reads (a damaged one is a finding of kind track).
    func trackShadows(_ replay: Replay, _ r: any LogReader, _ report: inout AuditReport) throws -> [(TrackRecord, ShadowState)] {
        let tracks = try r.tracks()
        report.tracksChecked = tracks.count
        var shadows: [(TrackRecord, ShadowState)] = []
        for track in tracks {
            do { shadows.append((track, try ShadowState(spec: try track.profile(), tensors: replay.tensors))) } catch let error as StoreError {
                report.add(.track, "\(error)")
            }
        }
        return shadows
    }

    /// Every step holds as many chunks of each tensor as its size needs, of tensors the log knows.
    func auditChunkCounts(_ replay: Replay, _ r: any LogReader, _ report: inout AuditReport, withoutRaw: Set<Int> = []) throws {
        let tensorsByID = Dictionary(uniqueKeysWithValues: replay.tensors.map { ($0.id, $0) })
        var flagged = Set<Int>()
        for (step, tensorID, count) in try r.chunkCounts() {
            if withoutRaw.contains(step) {
                if flagged.insert(step).inserted {
                    report.add(.chunk, step: step, "step \(step): has chunks, but its record says its raw weights were left out")
                }
                continue
            }
            guard let tensor = tensorsByID[tensorID] else {
                report.add(.chunk, step: step, "step \(step): chunks of an unknown tensor id \(tensorID)")
                continue
            }
            let expected = r.layout.ranges(of: tensor).count
            if count != expected {
                report.add(.chunk, step: step, tensor: tensor.name, "step \(step): tensor '\(tensor.name)' has \(count) chunks, expected \(expected)")
            }
        }
    }

    /// Every chunk of `tensors` at every step of `steps` (steps with raw weights), decoded and checked, chunk-major: one chunk of one
    /// tensor through every step, so memory stays at a few chunks, and each damaged chunk is named.
    func verifyChunks(_ tensors: [TensorRecord], _ steps: [Int], _ r: any LogReader, _ report: inout AuditReport,
                              _ observer: any ProgressObserver) throws {
        let total = tensors.reduce(0) { $0 + r.layout.ranges(of: $1).count }
        var done = 0
        for tensor in tensors {
            for (index, range) in r.layout.ranges(of: tensor).enumerated() {
                let trajectory = ChunkTrajectory(tensor: tensor, chunkIndex: index)
                var previous: Int?
                for step in steps {
                    defer { previous = step }
                    do {
                        let bytes = try trajectory.bytes(at: step, previous: previous, r)
                        if bytes.count != range.count {
                            report.add(.chunk, step: step, tensor: tensor.name, chunk: index,
                                       "step \(step): tensor '\(tensor.name)' chunk \(index) holds \(bytes.count) bytes, expected \(range.count)")
                        }
                        report.chunksVerified += 1
                    } catch let error as StoreError where error.isDamage {
                        report.add(.chunk, step: step, tensor: tensor.name, chunk: index, "step \(step): \(error)")
                    }
                }
                done += 1
                observer.progress("verify", done: done, total: total)
            }
        }
    }

    func compare(_ shadow: ShadowState, with snapshot: SnapshotRecord, _ replay: Replay, _ r: any LogReader) throws
        -> (tensor: String?, detail: String)? {
        for tensor in replay.floating {
            let mismatch: Int?
            do {
                mismatch = try shadow.withValues(of: tensor.id) { values -> Int? in
                    let live = UnsafeRawBufferPointer(values)
                    var mismatch: Int?
                    try r.forEachChunk(of: tensor, in: .snapshot(snapshot.id)) { offset, bytes in
                        let replayed = UnsafeRawBufferPointer(rebasing: live[offset..<(offset + bytes.count)])
                        if mismatch == nil, let i = ByteCompare.firstDifference(bytes, replayed, width: 4) { mismatch = offset / 4 + i }
                    }
                    return mismatch
                }
            } catch {
                return (tensor.name, "\(error)")
            }
            if let mismatch { return (tensor.name, "tensor '\(tensor.name)' differs from the replay at element \(mismatch)") }
        }
        return nil
    }
}
