import EMALogFormats
import Foundation

extension Ingest {
    /// Watches folders and metrics files until SIGINT/SIGTERM. Step files are taken in step order,
    /// each once it is whole (its size matches its header and did not change since the previous
    /// scan); a later step waits while an earlier one is incomplete. `*.tmp` is ignored.
    func follow(scan: InputScan, seen initial: Set<String>, metrics cursors: inout [String: MetricsCursor],
                total: inout Int, done: inout Int) throws {
        var seen = initial
        var sizes: [String: Int] = [:]
        var waiting: Set<String> = []
        while !StopSignal.requested {
            var candidates: [(path: String, step: Int)] = []
            for folder in scan.folders {
                for path in try InputScan.stepFiles(in: folder) where !seen.contains(InputScan.absolute(path)) {
                    candidates.append((path, StepFile.probeStep(path: path) ?? -1))
                }
            }
            candidates.sort { ($0.step, $0.path) < ($1.step, $1.path) }
            for candidate in candidates {
                if StopSignal.requested { break }
                let path = candidate.path
                guard let size = fileSize(path) else { continue }
                let stable = sizes[path] == size
                sizes[path] = size
                guard stable, try isWhole(path) else { waiting.insert(path); break }
                waiting.remove(path)
                try ingestStep(at: path)
                seen.insert(InputScan.absolute(path))
                total += 1
                done += 1
                observer.progress("follow", done: done, total: 0)
            }
            for path in cursors.keys.sorted() {
                let cursor = cursors[path]!
                guard let size = fileSize(path), size > cursor.offset else { continue }
                let file = try MetricsFile.read(path: path, from: cursor.offset, firstLine: cursor.nextLine, allowPartialTail: true)
                try storeMetrics(file)
                cursors[path] = MetricsCursor(offset: file.consumed, nextLine: file.nextLine)
            }
            sleepInterruptibly(request.pollInterval)
        }
        report.interrupted = true
        for path in waiting.sorted() where !seen.contains(InputScan.absolute(path)) {
            observer.warning("\(path): still incomplete when stopped; it was not ingested")
        }
    }

    /// False while a file is shorter than its header declares; any other defect throws.
    private func isWhole(_ path: String) throws(IngestError) -> Bool {
        do {
            _ = try StepFile(path: path)
            return true
        } catch {
            if case .badFile(_, let reason) = error, case .truncated = reason { return false }
            throw error
        }
    }

    private func fileSize(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
    }

    private func sleepInterruptibly(_ seconds: Double) {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end && !StopSignal.requested { usleep(20_000) }
    }
}
