import EMAKernel
import EMALogFormats
import EMALogStore

/// What `emalog audit` checked and found.
public struct AuditReport: Sendable {
    public var stepsChecked = 0
    public var chunksVerified = 0
    public var snapshotsChecked = 0
    public var tracksChecked = 0
    /// Each problem found, with where it is.
    public var problems: [String] = []

    public var isClean: Bool { problems.isEmpty }
}

extension EMALog {
    /// Checks the log end to end: SQLite's own integrity check, every raw chunk against its checksum
    /// and size, and every snapshot against a fresh replay from the first step (bit for bit).
    ///
    /// Damage is reported, never thrown: a schema emalog did not write (nothing else is read
    /// then), values that fail validation, chunks that fail their checksum, snapshots that differ.
    /// Only a log that cannot be reached (missing, busy, I/O) throws.
    public func audit(observer: any ProgressObserver = SilentObserver()) throws -> AuditReport {
        var report = AuditReport()
        try store.read { r in
            for problem in try r.integrityCheck() where problem != "ok" { report.problems.append("SQLite: \(problem)") }
            guard store.unreadable.isEmpty else {
                report.problems += store.unreadable
                report.problems.append("the log's tables were not read: a log is data, never code, and this one is not as emalog writes it")
                return
            }
            do {
                try auditContent(r, &report, observer)
            } catch let error as StoreError where error.isDamage {
                report.problems.append("\(error)")
            }
        }
        return report
    }

    private func auditContent(_ r: any LogReader, _ report: inout AuditReport, _ observer: any ProgressObserver) throws {
        let replay = try Replay(reader: r)
        for step in replay.steps {
            do { _ = try r.stepRecord(step) } catch let error as StoreError where error.isDamage { report.problems.append("\(error)") }
        }
        try verifyChunks(replay, r, &report, observer)
        report.stepsChecked = replay.steps.count
        let tracks = try r.tracks()
        report.tracksChecked = tracks.count
        var shadows: [(TrackRecord, ShadowState)] = []
        for track in tracks {
            do { shadows.append((track, try ShadowState(spec: try track.profile(), tensors: replay.tensors))) } catch let error as StoreError {
                report.problems.append("\(error)")
            }
        }
        var snapshotsByStep: [Int: [(ShadowState, TrackRecord, SnapshotRecord)]] = [:]
        for (track, shadow) in shadows {
            for snapshot in try r.snapshots(track: track.id) { snapshotsByStep[snapshot.step, default: []].append((shadow, track, snapshot)) }
        }
        guard !shadows.isEmpty, report.problems.isEmpty else { return }
        let total = snapshotsByStep.values.reduce(0) { $0 + $1.count }
        for step in snapshotsByStep.keys.sorted() {
            guard replay.step(before: step + 1) == step else {
                report.problems.append("snapshots at step \(step), which the log does not hold")
                continue
            }
            try replay.advance(shadows.map(\.1), to: step)
            for (shadow, track, snapshot) in snapshotsByStep[step]! {
                report.snapshotsChecked += 1
                let problem: String?
                do { problem = try compare(shadow, with: snapshot, replay, r) } catch { problem = "\(error)" }
                if let problem { report.problems.append("track '\(track.name)' snapshot at step \(step): \(problem)") }
            }
            observer.progress("replay", done: report.snapshotsChecked, total: total)
        }
    }

    /// Every chunk of every step, decoded and checked, chunk-major: one chunk of one tensor through
    /// every step, so memory stays at a few chunks.
    private func verifyChunks(_ replay: Replay, _ r: any LogReader, _ report: inout AuditReport, _ observer: any ProgressObserver) throws {
        let total = replay.tensors.reduce(0) { $0 + r.layout.ranges(of: $1).count }
        var done = 0
        for tensor in replay.tensors {
            for (index, range) in r.layout.ranges(of: tensor).enumerated() {
                let trajectory = ChunkTrajectory(tensor: tensor, chunkIndex: index)
                var previous: Int?
                for step in replay.steps {
                    defer { previous = step }
                    do {
                        let bytes = try trajectory.bytes(at: step, previous: previous, r)
                        if bytes.count != range.count {
                            report.problems.append("step \(step): tensor '\(tensor.name)' chunk \(index) holds \(bytes.count) bytes, expected \(range.count)")
                        }
                        report.chunksVerified += 1
                    } catch let error as StoreError where error.isDamage {
                        report.problems.append("step \(step): \(error)")
                    }
                }
                done += 1
                observer.progress("verify", done: done, total: total)
            }
        }
        let tensorsByID = Dictionary(uniqueKeysWithValues: replay.tensors.map { ($0.id, $0) })
        for (step, tensorID, count) in try r.chunkCounts() {
            guard let tensor = tensorsByID[tensorID] else {
                report.problems.append("step \(step): chunks of an unknown tensor id \(tensorID)")
                continue
            }
            let expected = r.layout.ranges(of: tensor).count
            if count != expected { report.problems.append("step \(step): tensor '\(tensor.name)' has \(count) chunks, expected \(expected)") }
        }
    }

    private func compare(_ shadow: ShadowState, with snapshot: SnapshotRecord, _ replay: Replay, _ r: any LogReader) throws -> String? {
        for tensor in replay.floating {
            let mismatch = try shadow.withValues(of: tensor.id) { values -> Int? in
                let live = UnsafeRawBufferPointer(values)
                var mismatch: Int?
                try r.forEachChunk(of: tensor, in: .snapshot(snapshot.id)) { offset, bytes in
                    let replayed = UnsafeRawBufferPointer(rebasing: live[offset..<(offset + bytes.count)])
                    if mismatch == nil, let i = ByteCompare.firstDifference(bytes, replayed, width: 4) { mismatch = offset / 4 + i }
                }
                return mismatch
            }
            if let mismatch { return "tensor '\(tensor.name)' differs from the replay at element \(mismatch)" }
        }
        return nil
    }
}
