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
    public func audit(observer: any ProgressObserver = SilentObserver()) throws -> AuditReport {
        var report = AuditReport()
        try store.read { r in
            for problem in try r.integrityCheck() where problem != "ok" { report.problems.append("SQLite: \(problem)") }
            let replay = try Replay(reader: r)
            // Chunk-major: one chunk of one tensor through every step, so memory stays at a few chunks.
            let total = replay.tensors.reduce(0) { $0 + r.chunkRanges(of: $1).count }
            var done = 0
            for tensor in replay.tensors {
                for (index, range) in r.chunkRanges(of: tensor).enumerated() {
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
                        } catch {
                            report.problems.append("step \(step): \(error)")
                        }
                    }
                    done += 1
                    observer.progress("verify", done: done, total: total)
                }
            }
            for (step, tensorID, count) in try r.chunkCounts() {
                guard let tensor = replay.tensors.first(where: { $0.id == tensorID }) else {
                    report.problems.append("step \(step): chunks of an unknown tensor id \(tensorID)")
                    continue
                }
                let expected = r.chunkRanges(of: tensor).count
                if count != expected { report.problems.append("step \(step): tensor '\(tensor.name)' has \(count) chunks, expected \(expected)") }
            }
            report.stepsChecked = replay.steps.count
            let tracks = try r.tracks()
            report.tracksChecked = tracks.count
            let shadows = try tracks.map { try ShadowState(spec: try $0.profile(), tensors: replay.tensors) }
            var snapshotsByStep: [Int: [(Int, SnapshotRecord)]] = [:]
            for (index, track) in tracks.enumerated() {
                for snapshot in try r.snapshots(track: track.id) { snapshotsByStep[snapshot.step, default: []].append((index, snapshot)) }
            }
            guard !shadows.isEmpty, report.problems.isEmpty else { return }
            for step in snapshotsByStep.keys.sorted() {
                try replay.advance(shadows, to: step)
                for (index, snapshot) in snapshotsByStep[step]! {
                    report.snapshotsChecked += 1
                    let problem: String?
                    do { problem = try compare(shadows[index], with: snapshot, replay, r) } catch { problem = "\(error)" }
                    if let problem { report.problems.append("track '\(tracks[index].name)' snapshot at step \(step): \(problem)") }
                }
                observer.progress("replay", done: report.snapshotsChecked, total: snapshotsByStep.values.reduce(0) { $0 + $1.count })
            }
        }
        return report
    }

    private func compare(_ shadow: ShadowState, with snapshot: SnapshotRecord, _ replay: Replay, _ r: StoreReader) throws -> String? {
        for tensor in replay.floating {
            let live = UnsafeRawBufferPointer(shadow.values(of: tensor.id))
            var mismatch: Int?
            try r.forEachChunk(of: tensor, in: .snapshot(snapshot.id)) { offset, bytes in
                if mismatch == nil, !ByteCompare.equal(bytes, live.baseAddress! + offset) {
                    for i in 0..<(bytes.count / 4) where bytes.load(fromByteOffset: 4 * i, as: UInt32.self)
                        != live.load(fromByteOffset: offset + 4 * i, as: UInt32.self) {
                        mismatch = offset / 4 + i
                        break
                    }
                }
            }
            if let mismatch { return "tensor '\(tensor.name)' differs from the replay at element \(mismatch)" }
        }
        return nil
    }
}
