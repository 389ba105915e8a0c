import EMALogFormats
import Foundation

extension Ingest {
    /// Watches folders and metrics files until SIGINT/SIGTERM: a step file is taken once it is whole
    /// (its size matches its header and did not change since the previous scan); `*.tmp` is ignored.
    func follow(scan: InputScan, seen initial: Set<String>, metrics cursors: inout [String: MetricsCursor],
                total: inout Int, done: inout Int) throws {
        var seen = initial
        var sizes: [String: Int] = [:]
        var waiting: Set<String> = []
        while !StopSignal.requested {
            sleepInterruptibly(request.pollInterval)
            if StopSignal.requested { break }
            var ready: [(path: String, step: Int)] = []
            for folder in scan.folders {
                for path in try InputScan.stepFiles(in: folder) where !seen.contains(InputScan.absolute(path)) {
                    guard let size = fileSize(path) else { continue }
                    defer { sizes[path] = size }
                    guard sizes[path] == size else { waiting.insert(path); continue }
                    if let step = try readyStep(path) {
                        ready.append((path, step))
                        waiting.remove(path)
                    } else {
                        waiting.insert(path)
                    }
                }
            }
            ready.sort { ($0.step, $0.path) < ($1.step, $1.path) }
            for file in ready {
                if StopSignal.requested { break }
                try ingestStep(at: file.path)
                seen.insert(InputScan.absolute(file.path))
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
        }
        report.interrupted = true
        for path in waiting.sorted() where !seen.contains(InputScan.absolute(path)) {
            observer.warning("\(path): still incomplete when stopped; it was not ingested")
        }
    }

    /// The step of a whole file, nil while it is shorter than its header declares.
    private func readyStep(_ path: String) throws(IngestError) -> Int? {
        do {
            return try StepFile(path: path).step
        } catch {
            if case .badFile(_, let reason) = error, case .truncated = reason { return nil }
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
