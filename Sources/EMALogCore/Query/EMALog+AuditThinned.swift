import EMALogStore

extension EMALog {
    /// The chunks and snapshots of a log whose retention policy left out raw steps: every stored
    /// chunk is decoded and checked (chunk-major), and each snapshot is re-derived from the one
    /// before it (the first from the first step) when every step between kept its raw weights.
    /// A snapshot that cannot be re-derived is information, not a finding; the snapshots after it
    /// are re-derived from it as stored.
    func auditThinned(_ replay: Replay, _ records: [StepRecord], _ r: any LogReader, _ report: inout AuditReport,
                      _ observer: any ProgressObserver) throws {
        let rawSteps = records.filter(\.raw).map(\.step)
        try auditChunkCounts(replay, r, &report, withoutRaw: Set(records.filter { !$0.raw }.map(\.step)))
        try verifyChunks(replay.tensors, rawSteps, r, &report, observer)
        let shadows = try trackShadows(replay, r, &report)
        guard !report.findings.contains(where: { [.chunk, .track, .stepRecord, .content].contains($0.kind) }) else { return }
        var snapshotsByStep: [Int: [(ShadowState, TrackRecord, SnapshotRecord)]] = [:]
        for (track, shadow) in shadows {
            for snapshot in try r.snapshots(track: track.id) { snapshotsByStep[snapshot.step, default: []].append((shadow, track, snapshot)) }
        }
        let recorded = Set(records.map(\.step))
        var notDerived: [Int] = []
        for step in snapshotsByStep.keys.sorted() {
            guard recorded.contains(step) else {
                report.add(.snapshot, step: step, "snapshots at step \(step), which the log does not hold")
                continue
            }
            do {
                try replay.advance(shadows.map(\.1), to: step)
            } catch QueryError.rawNotKept {
                // Taken as stored: each track starts again from its latest snapshot here.
                notDerived.append(step)
                for (track, shadow) in shadows {
                    if let snapshot = try r.snapshot(track: track.id, atOrBefore: step) { try replay.load(snapshot, into: shadow) }
                }
                continue
            }
            for (shadow, track, snapshot) in snapshotsByStep[step]! {
                report.snapshotsChecked += 1
                let problem: (tensor: String?, detail: String)?
                do { problem = try compare(shadow, with: snapshot, replay, r) } catch { problem = (nil, "\(error)") }
                if let problem {
                    report.add(.snapshot, step: step, tensor: problem.tensor, "track '\(track.name)' snapshot at step \(step): \(problem.detail)")
                }
            }
        }
        if !notDerived.isEmpty {
            let listed = notDerived.prefix(12).map(String.init).joined(separator: ", ") + (notDerived.count > 12 ? ", ..." : "")
            report.information.append("the snapshots at \(notDerived.count) step(s) (\(listed)) cannot be re-derived: raw steps "
                + "before them were left out by the retention policy (the other \(report.snapshotsChecked) were re-derived from the "
                + "snapshot before them, or the first step, through kept raw steps)")
        }
    }
}
