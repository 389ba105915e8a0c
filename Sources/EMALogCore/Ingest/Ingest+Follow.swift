import EMALogFormats
import Foundation

extension Ingest {
    /// Watches folders and metrics files until SIGINT/SIGTERM.
    ///
    /// Each scan takes, in step order, every step file that is whole (its size is what its header
    /// declares), so a backlog drains at full ingest speed; a scan that took something is followed
    /// at once by the next, and only a scan that found nothing new waits the poll interval. A later
    /// step waits while an earlier one is incomplete (EMA depends on order); `*.tmp` is ignored. A
    /// file that changes while it is read (a trainer saving it again in place) stores nothing and
    /// is read again once whole. Inputs that do not exist yet (the trainer has not created its
    /// folder or metrics file) are waited for. A metrics file is read on from where the previous
    /// read stopped, or again from its first line when it was truncated, replaced or rewritten
    /// (lines already stored are no-ops). On stop, the backlog is reported: complete files not
    /// read, and files still incomplete.
    func follow(scan initial: InputScan, seen initialSeen: Set<String>, metrics cursors: inout [String: MetricsCursor],
                total: inout Int, done: inout Int) throws {
        var scan = initial
        var seen = initialSeen
        var rereading: Set<String> = []  // files that changed while read, told once
        while !request.stop.requested {
            for (path, kind) in appearedInputs(&scan) {
                observer.warning("\(path): appeared; following it")
                if kind == .metricsFile { cursors[path] = MetricsCursor() }
            }
            var took = 0
            scanning: for candidate in unseenStepFiles(scan, seen: seen) {
                if request.stop.requested { break }
                guard let arrival = try arrival(at: candidate.path) else { continue }
                guard case let .whole(file) = arrival else { break scanning }
                do {
                    try ingestStep(file)
                } catch let IngestError.changedWhileReading(path, detail) {
                    abandonStep()
                    if rereading.insert(path).inserted {
                        observer.warning("\(path): changed while it was being read (\(detail)); nothing of it was "
                            + "stored; it is read again once whole")
                    }
                    break scanning
                }
                rereading.remove(file.path)
                seen.insert(InputScan.absolute(file.path))
                took += 1
                total += 1
                done += 1
                observer.progress("follow", done: done, total: 0)
            }
            try waitForPendingWrite()
            try followMetrics(&cursors)
            if took == 0 { sleepInterruptibly(request.pollInterval) }
        }
        report.interrupted = true
        reportBacklog(scan, seen: seen)
    }

    /// A step file found by a scan: whole (ready to ingest), or still being written.
    enum Arrival {
        case whole(StepFile)
        case incomplete(size: Int)
    }

    /// Opens `path` as a step file; nil when it vanished since the folder was listed (renamed).
    /// Any defect other than being short of its declared size (or growing while read) throws.
    func arrival(at path: String) throws(IngestError) -> Arrival? {
        do {
            return .whole(try StepFile(path: path, hooks: request.hooks))
        } catch {
            switch error {
            case .badFile(_, .truncated), .changedWhileReading:
                let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
                return .incomplete(size: size)
            case .inputNotFound:
                return nil
            default:
                throw error
            }
        }
    }

    /// Step files named on the command line and in the watched folders, not ingested yet, in step
    /// order; files whose step cannot be known yet come first.
    func unseenStepFiles(_ scan: InputScan, seen: Set<String>) -> [InputScan.Candidate] {
        var paths = scan.stepFiles.filter { !$0.inFolder }.map(\.path)
        for folder in scan.folders {
            paths += (try? InputScan.stepFiles(in: folder)) ?? []  // a folder removed for now lists nothing
        }
        var listed = seen  // a file named and also in a watched folder is taken once
        return paths.filter { listed.insert(InputScan.absolute($0)).inserted }
            .map { InputScan.Candidate(path: $0, step: StepFile.probeStep(path: $0), inFolder: true) }
            .sorted { ($0.step ?? -1, $0.path) < ($1.step ?? -1, $1.path) }
    }

    /// Inputs that did not exist and now do, moved into the scan (folders, metrics or step files).
    private func appearedInputs(_ scan: inout InputScan) -> [(String, InputScan.Kind)] {
        var appeared: [(String, InputScan.Kind)] = []
        scan.missing.removeAll { path in
            guard let kind = InputScan.kind(of: path) else { return false }
            switch kind {
            case .folder: scan.folders.append(path)
            case .metricsFile: scan.metricsFiles.append(path)
            case .stepFile: scan.stepFiles.append(InputScan.Candidate(path: path, step: nil, inFolder: false))
            }
            appeared.append((path, kind))
            return true
        }
        return appeared
    }

    /// Stores the lines added to each followed metrics file since the previous read; a file that
    /// was truncated, replaced or rewritten is read again from its first line.
    private func followMetrics(_ cursors: inout [String: MetricsCursor]) throws {
        for path in cursors.keys.sorted() {
            let cursor = cursors[path]!
            var info = stat()
            guard stat(path, &info) == 0 else { continue }  // being replaced: next time
            if cursor.identity == FileIdentity(info) && Int(info.st_size) == cursor.offset { continue }
            guard let file = try readFollowed(path, from: cursor) else { continue }
            if let reason = file.restarted {
                observer.warning("\(path): \(reason) while followed; reading it again from its first line "
                    + "(values already stored are no-ops)")
            }
            try storeMetrics(file)
            cursors[path] = file.cursor
        }
    }

    /// Reads a followed metrics file on from `cursor`; nil when it was cut short or removed while
    /// read (it is read again next time).
    private func readFollowed(_ path: String, from cursor: MetricsCursor) throws(IngestError) -> MetricsFile? {
        do {
            return try MetricsFile.read(path: path, from: cursor, allowPartialTail: true)
        } catch {
            switch error {
            case .changedWhileReading, .inputNotFound: return nil
            default: throw error
            }
        }
    }

    /// Says on stop what was left: complete step files not read yet, and files still incomplete.
    private func reportBacklog(_ scan: InputScan, seen: Set<String>) {
        for candidate in unseenStepFiles(scan, seen: seen) {
            do {
                switch try arrival(at: candidate.path) {
                case .whole?:
                    report.backlog.append(candidate.path)
                case let .incomplete(size)?:
                    report.incomplete.append(candidate.path)
                    observer.warning("\(candidate.path): still incomplete when stopped (\(size) bytes, short of what "
                        + "its header declares); it was not ingested")
                case nil:
                    continue
                }
            } catch {
                observer.notIngested(error)
            }
        }
        if let first = report.backlog.first {
            let n = report.backlog.count
            observer.warning("stopped with \(n) complete step file\(n == 1 ? "" : "s") not yet ingested (from \(first)"
                + (n > 1 ? " to \(report.backlog.last!)" : "") + "); run the same command again to ingest them")
        }
        for path in scan.missing {
            observer.warning("\(path): never appeared while followed")
        }
    }

    private func sleepInterruptibly(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && !request.stop.requested { usleep(20_000) }
    }
}
