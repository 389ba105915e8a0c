import EMALogFormats
import EMALogStore
import Synchronization

extension Ingest {
    /// Stores decoded metrics files, one transaction each; warns once per skipped key.
    func storeMetrics(_ files: [MetricsFile]) throws -> [String: MetricsCursor] {
        var cursors: [String: MetricsCursor] = [:]
        for file in files {
            try storeMetrics(file)
            cursors[file.path] = file.cursor
        }
        return cursors
    }

    /// One file's values in one transaction: a conflicting value refuses the whole file (or, with
    /// `keepStoredMetrics`, is left out with a warning).
    func storeMetrics(_ file: MetricsFile) throws {
        try waitForPendingWrite()
        guard let prepared = prepareMetrics(file) else { return }
        let result = try store.write { w -> MetricsWriteResult in
            let result = try prepared.write(w)
            if result.inserted + result.replaced > 0 { try beginWrite(w) }
            return result
        }
        account(result, from: file.path)
    }

    /// `file`'s values ready to write in any transaction (nil when it has none); warns once per
    /// skipped key.
    func prepareMetrics(_ file: MetricsFile) -> PreparedMetrics? {
        warnSkippedKeys(file)
        guard !file.lines.isEmpty else { return nil }
        let policy: MetricConflictPolicy = request.replace ? .replace : (request.keepStoredMetrics ? .keepStored : .refuse)
        return PreparedMetrics(path: file.path, lines: file.lines, policy: policy)
    }

    /// Counts what a metrics write stored and warns of each value left out for a stored one.
    func account(_ result: MetricsWriteResult, from path: String) {
        report.metricValues += result.inserted + result.replaced
        report.metricValuesUnchanged += result.unchanged
        report.metricValuesKept += result.kept.count
        for conflict in result.kept.prefix(Self.keptWarnings) {
            observer.warning("\(path): step \(conflict.step) key '\(conflict.key)' is stored as \(conflict.stored), given "
                + "\(conflict.new): the stored value is kept (replace to overwrite)")
        }
        if result.kept.count > Self.keptWarnings {
            observer.warning("\(path): \(result.kept.count - Self.keptWarnings) more values differ from stored ones and were not stored")
        }
    }

    /// Kept values named one by one in warnings; the rest are counted.
    static let keptWarnings = 10

    private func warnSkippedKeys(_ file: MetricsFile) {
        var warned = Set<String>()
        for line in file.lines {
            for (key, kind) in line.skipped where warned.insert(key).inserted {
                observer.warning("\(file.path): key '\(key)' holds \(kind) (first at step \(line.step)); "
                    + "only numbers are metrics, so it is skipped")
            }
        }
    }
}

/// A metrics file's values, ready to be written inside any write transaction (a step's own, on
/// the appender's writer queue, or one of their own).
struct PreparedMetrics: Sendable {
    let path: String
    let lines: [MetricsLine]
    let policy: MetricConflictPolicy

    /// Stores the values in `w`; a conflict under `.refuse` throws `IngestError.metricConflict`.
    func write(_ w: any LogWriter) throws -> MetricsWriteResult {
        // Lines mostly repeat the keys of the line before, in the same order: compare with it
        // before hashing.
        var names: [String] = []
        var seen = Set<String>()
        var previous: [(key: String, value: Double)] = []
        for line in lines {
            for (i, (key, _)) in line.values.enumerated() where !(i < previous.count && previous[i].key == key) {
                if seen.insert(key).inserted { names.append(key) }
            }
            previous = line.values
        }
        let ids = try w.metricKeyIDs(for: names)
        let byID = Dictionary(uniqueKeysWithValues: ids.map { ($1, $0) })
        var values: [MetricValue] = []
        values.reserveCapacity(lines.count * 4)
        var lastKeys: [String] = [], lastIDs: [Int64] = []
        for line in lines {
            for (i, (key, value)) in line.values.enumerated() {
                let id: Int64
                if i < lastKeys.count && lastKeys[i] == key {
                    id = lastIDs[i]
                } else {
                    id = ids[key]!
                    if i < lastKeys.count { lastKeys[i] = key; lastIDs[i] = id } else { lastKeys.append(key); lastIDs.append(id) }
                }
                values.append(MetricValue(step: line.step, keyID: id, value: value))
            }
        }
        do {
            return try w.insertMetrics(values, onConflict: policy) { byID[$0] ?? "?" }
        } catch let conflict as MetricConflict {
            throw IngestError.metricConflict(path: path, conflict)
        }
    }
}

/// Metrics written on the appender's writer queue in a pipelined step's transaction, and what
/// the write stored (set on that queue, read after the write was waited for).
final class PendingMetrics: Sendable {
    let metrics: PreparedMetrics
    private let outcome = Mutex<MetricsWriteResult?>(nil)

    init(_ metrics: PreparedMetrics) { self.metrics = metrics }

    /// What the write stored, or nil when it did not run.
    var result: MetricsWriteResult? { outcome.withLock { $0 } }

    func write(_ w: any LogWriter) throws {
        let result = try metrics.write(w)
        outcome.withLock { $0 = result }
    }
}
