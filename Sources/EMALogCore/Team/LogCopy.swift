import EMALogFormats
import EMALogStore

/// A log copied into another, over the `LogStore` protocols only, so any backend to any backend:
/// `pull` is a team store's run copied into a new log file.
enum LogCopy {
    /// What a copy wrote.
    struct Copied {
        var steps = 0
        var snapshots = 0
        var metricValues = 0
        /// Stored bytes of the chunks copied (raw steps and snapshots).
        var bytes = 0
    }

    /// Copies every step, chunk, track, snapshot and metric of `source` into `dest`, a new empty
    /// log, with `source`'s identity and audit trail: one transaction per step, so `stop` ends it
    /// between steps (throwing `stopped`), and chunks go across as their stored bytes.
    /// `progress` hears (steps done, steps).
    static func copy(from source: any LogStore, into dest: any LogStore, stop: StopToken, stopped: any Error,
                     progress: (Int, Int) -> Void = { _, _ in }) throws -> Copied {
        var report = Copied()
        let (logID, tensors, ingests, tracks, steps, snapshots, keys) = try source.read { r in
            (try r.logID(), try r.tensors(), try r.ingests(), try r.tracks(), try r.stepNumbers(),
             try r.tracks().flatMap { try r.snapshots(track: $0.id) }, try r.metricKeys())
        }
        // Ids are the destination's own; everything else is the source's.
        let (destTensors, destTracks) = try dest.write { w in
            try w.adopt(logID: logID, ingests: ingests)
            let made = tensors.isEmpty ? [] : try w.insertTensors(tensors.map(\.layout))
            let madeTracks = try tracks.map { try w.insertTrack(name: $0.name, spec: $0.spec, ingestID: ingests.first?.id ?? 1) }
            return (made, madeTracks)
        }
        let trackID = Dictionary(uniqueKeysWithValues: zip(tracks.map(\.id), destTracks.map(\.id)))
        let snapshotsAt = Dictionary(grouping: snapshots, by: \.step)
        for (done, step) in steps.enumerated() {
            if stop.requested { throw stopped }
            // One transaction per step, streaming its chunks from the server's read view.
            let copied = try dest.write { w in
                try source.read { r in
                    guard let record = try r.stepRecord(step) else { throw StoreError.inconsistent("step \(step) vanished from the run") }
                    try w.insertStep(record)
                    var bytes = 0
                    for (from, to) in zip(tensors, destTensors) {
                        try r.forEachStoredChunk(of: from, in: .step(step)) { chunk in
                            try chunk.payload.withUnsafeBytes { try w.insertChunk(chunk.header, in: .step(step), tensorID: to.id, payload: $0) }
                            bytes += chunk.payload.count
                        }
                    }
                    var taken = 0
                    for snapshot in snapshotsAt[step] ?? [] {
                        let made = try w.insertSnapshot(track: trackID[snapshot.trackID]!, step: step)
                        for (from, to) in zip(tensors, destTensors) where from.dtype.isFloating {
                            try r.forEachStoredChunk(of: from, in: .snapshot(snapshot.id)) { chunk in
                                try chunk.payload.withUnsafeBytes {
                                    try w.insertChunk(chunk.header, in: .snapshot(made.id), tensorID: to.id, payload: $0)
                                }
                                bytes += chunk.payload.count
                            }
                        }
                        taken += 1
                    }
                    return (bytes, taken)
                }
            }
            report.steps += 1
            report.bytes += copied.0
            report.snapshots += copied.1
            progress(done + 1, steps.count)
        }
        let pins = try source.read { r in try r.pins() }
        if !pins.isEmpty { try dest.write { w in for pin in pins { try w.pin(pin) } } }
        for (name, id) in keys.sorted(by: { $0.value < $1.value }) {
            if stop.requested { throw stopped }
            let values = try source.read { r in try r.metricValues(keyIDs: [id], steps: 0...StepNumber.largest) }
            try dest.write { w in
                let destID = try w.metricKeyIDs(for: [name])[name]!
                _ = try w.insertMetrics(values.map { MetricValue(step: $0.step, keyID: destID, value: $0.value) }, replace: false) { _ in name }
            }
            report.metricValues += values.count
        }
        return report
    }
}
