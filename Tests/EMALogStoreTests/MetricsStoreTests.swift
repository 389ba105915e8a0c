import EMALogStore
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
}
