import EMALogStore
import Foundation

extension EMALog {
    /// A sharded training's audit: every rank's log audited whole (each finding says which rank),
    /// then the ranks checked against each other: the slices tile every tensor of the model, and
    /// every rank has the same steps and tracks.
    func shardedAudit(sources: String?, observer: any ProgressObserver) throws -> AuditReport {
        let started = Date()
        var report = AuditReport()
        report.ranks = shards.count
        var steps: [[Int]] = [], tracks: [[String]] = []
        for (rank, log) in shards.enumerated() {
            let own = try log.audit(sources: sources, observer: observer)
            report.stepsChecked = max(report.stepsChecked, own.stepsChecked)
            report.chunksVerified += own.chunksVerified
            report.snapshotsChecked += own.snapshotsChecked
            report.tracksChecked = max(report.tracksChecked, own.tracksChecked)
            report.ingestsChecked += own.ingestsChecked
            report.sourcesChecked += own.sourcesChecked
            report.stepsWithoutRaw = max(report.stepsWithoutRaw, own.stepsWithoutRaw)
            for var finding in own.findings {
                finding.detail = "rank \(rank) (\(log.path)): " + finding.detail
                report.findings.append(finding)
            }
            report.information += own.information.map { "rank \(rank): " + $0 }
            guard own.findings.allSatisfy({ $0.kind != .schema && $0.kind != .sqlite }) else { continue }
            try? log.store.read { r in
                steps.append(try r.stepNumbers())
                tracks.append(try r.tracks().map { "\($0.name)=\($0.spec)" })
            }
        }
        do {
            _ = try shardMap()
        } catch let error as QueryError {
            report.add(.shards, "\(error)")
        } catch let error as StoreError where error.isDamage {
            report.add(.shards, "\(error)")
        }
        for (rank, (s, t)) in zip(steps, tracks).enumerated().dropFirst() {
            if s != steps[0] {
                let only = Set(s).symmetricDifference(steps[0]).sorted().prefix(5).map(String.init).joined(separator: ", ")
                report.add(.shards, "rank \(rank) has other steps than rank 0 (\(s.count) and \(steps[0].count); "
                    + "steps in one only: \(only)): every rank logs every step")
            }
            if t != tracks[0] {
                report.add(.shards, "rank \(rank)'s tracks (\(t.joined(separator: "; "))) differ from rank 0's "
                    + "(\(tracks[0].joined(separator: "; ")))")
            }
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}
