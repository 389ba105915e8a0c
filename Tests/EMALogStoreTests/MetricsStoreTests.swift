import EMALogStore
import EMALogSQLite
import EMALogTestSupport
import Testing

@Suite struct MetricsStoreTests {
    @Test func sameValueIsANoOpDifferentIsRefusedUnlessReplace() throws {
        let dir = TemporaryDirectory()
        let store = try SQLiteLogStore.openForWriting(at: dir.file("a.emalog"))
        let ids = try store.write { w in try w.metricKeyIDs(for: ["loss", "acc"]) }
        let values = [MetricValue(step: 1, keyID: ids["loss"]!, value: 0.5), MetricValue(step: 1, keyID: ids["acc"]!, value: .nan),
                      MetricValue(step: 2, keyID: ids["loss"]!, value: -.infinity)]
        let first = try store.write { w in try w.insertMetrics(values, replace: false) { _ in "" } }
        #expect(first.inserted == 3)
        let again = try store.write { w in try w.insertMetrics(values, replace: false) { _ in "" } }
        #expect(again.unchanged == 3 && again.inserted == 0)
        #expect(throws: MetricConflict(step: 1, key: "loss", stored: 0.5, new: 0.25)) {
            try store.write { w in try w.insertMetrics([MetricValue(step: 1, keyID: ids["loss"]!, value: 0.25)], replace: false) { _ in "loss" } }
        }
        let replaced = try store.write { w in try w.insertMetrics([MetricValue(step: 1, keyID: ids["loss"]!, value: 0.25)], replace: true) { _ in "" } }
        #expect(replaced.replaced == 1)
        let back = try store.read { r in try r.metricValues(keyIDs: [ids["loss"]!, ids["acc"]!], steps: 0...10) }
        #expect(back.count == 3)
        #expect(back[0].value == 0.25 || back[1].value == 0.25)
        #expect(back.contains { $0.value.isNaN } && back.contains { $0.value == -.infinity })
    }

    /// Values arrive by step, in commits, with late ones (an eval pass) and repeats: every query
    /// returns exactly what a plain map of (step, key) -> value holds, through appends, merges
    /// into the middle, blocks split, a step below the first, and `replace`.
    @Test func blocksHoldWhatAMapHolds() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("b.emalog")
        let store = try SQLiteLogStore.openForWriting(at: path)
        let ids = try store.write { w in try w.metricKeyIDs(for: ["loss", "eval/acc", "lr"]) }
        let loss = ids["loss"]!, acc = ids["eval/acc"]!, lr = ids["lr"]!
        var expected: [Int64: [Int: Double]] = [:]
        func put(_ values: [MetricValue], replace: Bool = false) throws -> MetricsWriteResult {
            let result = try store.write { w in try w.insertMetrics(values, replace: replace) { _ in "k" } }
            for v in values where replace || expected[v.keyID]?[v.step] == nil { expected[v.keyID, default: [:]][v.step] = v.value }
            return result
        }
        // Training: 2,000 even steps of loss and lr in commits of 100 steps (appends, blocks of 250).
        for commit in 0..<20 {
            let steps = stride(from: commit * 200 + 10, to: commit * 200 + 210, by: 2)
            let r = try put(steps.flatMap { [MetricValue(step: $0, keyID: loss, value: 1 / Double($0)),
                                             MetricValue(step: $0, keyID: lr, value: -0.0)] })
            #expect(r.inserted == 200)
        }
        // Eval every 7th step, late and backwards; then the odd steps of loss in the middle
        // (merges that split blocks), steps below the first (0-9), and a repeat of all of it.
        let evals = stride(from: 4_000, through: 0, by: -7).map { MetricValue(step: $0, keyID: acc, value: Double($0).squareRoot()) }
        #expect(try put(evals).inserted == evals.count)
        let middle = (0..<1_500).map { MetricValue(step: 501 + 2 * ($0 * 7_919 % 1_500), keyID: loss, value: .nan) }
        #expect(try put(middle).inserted == 1_500)
        _ = try put((0..<10).map { MetricValue(step: $0, keyID: loss, value: Double($0)) })
        let again = try put(evals + middle)
        #expect(again.inserted == 0 && again.replaced == 0)
        #expect(try put([MetricValue(step: 1_000, keyID: loss, value: 42)], replace: true).replaced == 1)
        #expect(throws: MetricConflict.self) {
            try store.write { w in try w.insertMetrics([MetricValue(step: 1_001, keyID: loss, value: 7)], replace: false) { _ in "loss" } }
        }
        for (range, keys) in [(0...Int.max, [loss, acc, lr]), (777...1_333, [loss]), (1_990...1_999, [acc, lr]), (5_000...6_000, [loss])] {
            let got = try store.read { r in try r.metricValues(keyIDs: keys, steps: range) }
            let want = keys.flatMap { key in (expected[key] ?? [:]).filter { range.contains($0.key) }.map { MetricValue(step: $0.key, keyID: key, value: $0.value) } }
                .sorted { ($0.step, $0.keyID) < ($1.step, $1.keyID) }
            #expect(got == want, "\(range) \(keys): \(got.count) values, expected \(want.count)")
            #expect(zip(got, want).allSatisfy { $0.value.bitPattern == $1.value.bitPattern || ($0.value.isNaN && $1.value.isNaN) })
        }
        // -0.0 keeps its sign; a key's history is a few rows, never one per value.
        #expect(try store.read { r in try r.metricValues(keyIDs: [lr], steps: 10...10) }.first?.value.sign == .minus)
        try store.close()
        let rows = try LogDump.run("/usr/bin/sqlite3", [path, "SELECT count(*), max(count) FROM metric_blocks; SELECT count(*) FROM metrics"])
        let counts = rows.split(whereSeparator: { $0 == "|" || $0 == "\n" }).compactMap { Int($0) }
        #expect(counts.count == 3 && counts[0] < 40 && counts[1] <= 500 && counts[2] == 0, "\(rows)")
    }
}
