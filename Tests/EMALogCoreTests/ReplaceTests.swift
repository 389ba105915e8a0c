import EMALogCore
import EMALogStore
import EMALogSQLite
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

@Suite struct ReplaceTests {
    @Test func replacingAStepReDerivesEveryLaterSnapshot() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("r.emalog"), reference = dir.file("ref.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: ["0.9"], snapshotEvery: 5)
        var b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000007.safetensors"))
        b.tensors[b.index(of: "fc1.bias")].bytes[1] ^= 0x10
        let changed = dir.file("step-00000007.safetensors")
        try b.write(to: changed)
        let report = try Goldens.ingest(db, [changed], replace: true)
        #expect(report.stepsReplaced == 1)
        // The same run with the changed step from the start, as a reference.
        let steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "ref") { $0 != "step-00000007.safetensors" }
        try FileManager.default.copyItem(atPath: changed, toPath: steps + "/step-00000007.safetensors")
        try Goldens.ingest(reference, [steps], tracks: ["0.9"], snapshotEvery: 5)
        for step in [6, 7, 10, 24] {
            let a = try Goldens.shadow(db, step: step, .only, in: dir)
            let r = try Goldens.shadow(reference, step: step, .only, in: dir)
            #expect(a.tensors.mapValues(\.bytes) == r.tensors.mapValues(\.bytes), "step \(step)")
        }
        let info = try EMALog(openingAt: db).info()
        #expect(info.tracks[0].snapshotSteps == [5, 10, 15, 20, 24])
        #expect(try EMALog(openingAt: db).audit().isClean)
    }

    struct Stopped: Error {}

    /// A replace commits with the snapshots it took away recorded as owed: an ingest stopped before
    /// it wrote them again (here by a hook, as a SIGKILL would) leaves the debt in the log, and the
    /// next ingest of anything, even of nothing new, pays it: the same snapshots, the same bytes.
    @Test func snapshotsAReplaceTookAwayComeBackAfterAStop() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("r.emalog"), whole = dir.file("whole.emalog")
        for log in [db, whole] {
            try Goldens.ingest(log, [Fixtures.path("mlp-f32/steps")], tracks: ["0.9", "name=warm,decay=0.99,schedule=warmup"],
                               snapshotEvery: 5)
        }
        var b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000007.safetensors"))
        b.tensors[b.index(of: "fc1.bias")].bytes[1] ^= 0x10
        let changed = dir.file("step-00000007.safetensors")
        try b.write(to: changed)

        var stopped = IngestRequest(logPath: db, inputs: [changed])
        stopped.replace = true
        stopped.hooks.beforeRestore = { throw Stopped() }
        #expect(throws: Stopped.self) { try Ingest.run(stopped) }
        let owing = try EMALog(openingAt: db).info()
        #expect(owing.tracks.map(\.snapshotSteps) == [[5], [5]], "the replace committed without the snapshots from step 7 on")
        #expect(owing.owedSnapshotCount == 8)
        #expect(try EMALog(openingAt: db).audit().isClean)

        // The same file again: identical now, so nothing to replace; the debt is paid all the same.
        let again = try Goldens.ingest(db, [changed])
        #expect(again.stepsSkipped == 1 && again.stepsReplaced == 0)
        let replaced = try Goldens.ingest(whole, [changed], replace: true)
        #expect(replaced.stepsReplaced == 1)
        let (paid, reference) = (try EMALog(openingAt: db).info(), try EMALog(openingAt: whole).info())
        #expect(paid.tracks.map(\.snapshotSteps) == reference.tracks.map(\.snapshotSteps))
        #expect(paid.tracks[0].snapshotSteps == [5, 10, 15, 20, 24] && paid.owedSnapshotCount == 0)
        for selector: EMALog.TrackSelector in [.nameOrSpec("0.9"), .nameOrSpec("warm")] {
            for step in [10, 20, 24] {
                let a = try Goldens.shadow(db, step: step, selector, in: dir), r = try Goldens.shadow(whole, step: step, selector, in: dir)
                #expect(a.tensors.mapValues(\.bytes) == r.tensors.mapValues(\.bytes), "\(selector) step \(step)")
            }
        }
        let store = try SQLiteLogStore.openForReading(at: db)
        #expect(try store.read { try $0.owedSnapshots() }.isEmpty)
        try store.close()
        #expect(try EMALog(openingAt: db).audit().isClean)
    }
}

@Suite struct MetricsOnlyTests {
    @Test func aLogMayHoldMetricsAlone() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("m.emalog")
        let path = dir.file("metrics.jsonl")
        try """
            {"step": 3, "loss": 0.25, "eval": {"acc": NaN}}
            {"step": 1, "loss": 0.5, "note": "warm", "flag": false}
            {"step": 2, "loss": Infinity}
            {"step": 3, "lr": 1e-3}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let report = try Goldens.ingest(db, [path])
        #expect(report.metricValues == 5 && report.stepsAdded == 0)
        let table = try EMALog(openingAt: db).metrics(keys: [])
        #expect(table.keys == ["eval/acc", "loss", "lr"])
        #expect(table.rows.map(\.step) == [1, 2, 3])
        #expect(table.rows[0].values[1] == 0.5 && table.rows[0].values[0] == nil)
        #expect(table.rows[1].values[1] == .infinity)
        #expect(table.rows[2].values[0]!.isNaN && table.rows[2].values[2] == 1e-3)
        let range = try EMALog(openingAt: db).metrics(keys: ["loss"], from: 2, to: 3)
        #expect(range.rows.map(\.step) == [2, 3])
        #expect(throws: QueryError.emptyLog(path: db)) { try EMALog(openingAt: db).shadow(atStep: nil, track: .decay(0.9)) }
    }
}
