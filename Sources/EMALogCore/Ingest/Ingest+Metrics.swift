import EMALogFormats
import EMALogStore

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

    /// One file's values in one transaction: a conflicting value refuses the whole file.
    func storeMetrics(_ file: MetricsFile) throws {
        try waitForPendingWrite()
        warnSkippedKeys(file)
        guard !file.lines.isEmpty else { return }
        // Lines mostly repeat the keys of the line before, in the same order: compare with it
        // before hashing.
        var names: [String] = []
        var seen = Set<String>()
        var previous: [(key: String, value: Double)] = []
        for line in file.lines {
            for (i, (key, _)) in line.values.enumerated() where !(i < previous.count && previous[i].key == key) {
                if seen.insert(key).inserted { names.append(key) }
            }
            previous = line.values
        }
        do {
            let result = try store.write { w -> MetricsWriteResult in
                let ids = try w.metricKeyIDs(for: names)
                let byID = Dictionary(uniqueKeysWithValues: ids.map { ($1, $0) })
                var values: [MetricValue] = []
                values.reserveCapacity(file.lines.count * 4)
                var lastKeys: [String] = [], lastIDs: [Int64] = []
                for line in file.lines {
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
                let result = try w.insertMetrics(values, replace: request.replace) { byID[$0] ?? "?" }
                if result.inserted + result.replaced > 0 { try beginWrite(w) }
                return result
            }
            report.metricValues += result.inserted + result.replaced
            report.metricValuesUnchanged += result.unchanged
        } catch let conflict as MetricConflict {
            throw IngestError.metricConflict(path: file.path, conflict)
        }
    }

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
