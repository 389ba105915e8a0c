import EMAKernel
import EMALogCore
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Snapshot, replay and ingest-time shadows are one and the same, whatever the path to them.
@Suite struct ReplayTests {
    static let tracks = ["0.9", "name=w,decay=0.999,schedule=warmup,form=lerp", "name=s,decay=0.99,schedule=tf,form=sub",
                         "name=ep,decay=0.99,schedule=warmup,after=3,every=2,decay_dtype=f32,form=lerp"]
    static let selectors = ["ema-0.9", "w", "s", "ep"]
    static let posthoc = ["0.9", "decay=0.999,schedule=warmup,form=lerp", "decay=0.99,schedule=tf,form=sub",
                          "decay=0.99,schedule=warmup,after=3,every=2,decay_dtype=f32,form=lerp"]

    func allShadows(_ db: String, _ names: [String], steps: ClosedRange<Int>, _ dir: TemporaryDirectory) throws -> [[String: [UInt8]]] {
        var out: [[String: [UInt8]]] = []
        for name in names {
            for step in steps {
                out.append(try Goldens.shadow(db, step: step, .nameOrSpec(name), in: dir).tensors.mapValues(\.bytes))
            }
        }
        return out
    }

    @Test func snapshotPlusReplayEqualsPostHocAtEveryStep() throws {
        let dir = TemporaryDirectory()
        let tracked = dir.file("t.emalog"), plain = dir.file("p.emalog")
        try Goldens.ingest(tracked, [Fixtures.path("mlp-f32/steps")], tracks: Self.tracks, snapshotEvery: 4)
        try Goldens.ingest(plain, [Fixtures.path("mlp-f32/steps")])
        let a = try allShadows(tracked, Self.selectors, steps: 1...24, dir)
        let b = try allShadows(plain, Self.posthoc, steps: 1...24, dir)
        #expect(a == b)
        let info = try EMALog(openingAt: tracked).info()
        #expect(info.tracks[0].snapshotSteps == [4, 8, 12, 16, 20, 24])
    }

    @Test func resumingInPiecesEqualsOneIngest() throws {
        let dir = TemporaryDirectory()
        let whole = dir.file("whole.emalog"), pieces = dir.file("pieces.emalog")
        try Goldens.ingest(whole, [Fixtures.path("mlp-f32/steps")], tracks: Self.tracks, snapshotEvery: 5)
        let first = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "a") { $0 < "step-00000009" }
        let second = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "b") { $0 >= "step-00000009" && $0 < "step-00000017" }
        try Goldens.ingest(pieces, [first], tracks: Self.tracks, snapshotEvery: 5)
        try Goldens.ingest(pieces, [second], snapshotEvery: 5)  // no --ema: stored tracks continue
        try Goldens.ingest(pieces, [Fixtures.path("mlp-f32/steps")], snapshotEvery: 5)  // 1...16 identical, 17...24 new
        #expect(try allShadows(whole, Self.selectors, steps: 20...24, dir) == allShadows(pieces, Self.selectors, steps: 20...24, dir))
        #expect(try EMALog(openingAt: pieces).audit().isClean)
    }

    @Test func aStopBeforeTheFinalSnapshotIsReDerivedByReplay() throws {
        // A kill after some steps committed leaves no snapshot at the last step: the next ingest
        // replays from the last snapshot (here none: from the first step) and continues exactly.
        let dir = TemporaryDirectory()
        let whole = dir.file("whole.emalog"), killed = dir.file("killed.emalog")
        try Goldens.ingest(whole, [Fixtures.path("mlp-f32/steps")], tracks: Self.tracks)
        let first = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "a") { $0 < "step-00000015" }
        try Goldens.ingest(killed, [first], tracks: Self.tracks)
        _ = try LogDump.run("/usr/bin/sqlite3", [killed, "DELETE FROM snapshot_chunks; DELETE FROM snapshots;"])
        try Goldens.ingest(killed, [Fixtures.path("mlp-f32/steps")])
        #expect(try allShadows(whole, Self.selectors, steps: 24...24, dir) == allShadows(killed, Self.selectors, steps: 24...24, dir))
        #expect(try EMALog(openingAt: killed).audit().isClean)
    }

    @Test func aTrackAddedLaterIsCaughtUpFromTheFirstStep() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("late.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: ["0.5"], snapshotEvery: 10)
        let report = try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: ["name=timm,decay=0.999,schedule=warmup,form=lerp"],
                                        snapshotEvery: 10)
        #expect(report.stepsSkipped == 24 && report.stepsAdded == 0)
        #expect(report.snapshotsWritten == 3)  // 10, 20 on the way and 24 at the end
        for step in [12, 24] {
            let got = try Goldens.shadow(db, step: step, .nameOrSpec("timm"), in: dir)
            #expect(Goldens.differences(got, try Goldens.golden("timm-v3-warmup-d0.999-step-\(step).safetensors")) == [])
        }
        #expect(try EMALog(openingAt: db).audit().isClean)
    }

    @Test func aLateTrackOnSparseStepsGetsTheSameSnapshotsAsAnEarlyOne() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("sparse.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-sparse/steps")], tracks: ["0.9"], snapshotEvery: 10)
        try Goldens.ingest(db, [Fixtures.path("mlp-sparse/steps")], tracks: ["0.5"], snapshotEvery: 10)
        let tracks = try EMALog(openingAt: db).info().tracks
        #expect(tracks.map(\.snapshotSteps) == [[12, 21, 30], [12, 21, 30]])
        #expect(try EMALog(openingAt: db).audit().isClean)
    }

    @Test func sweepEqualsSingleQueries() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("sw.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: ["0.9"], snapshotEvery: 5)
        let specs = try ["0.9", "0.99", "name=w,decay=0.999,schedule=warmup,form=lerp"].map { try EMASpec(parsing: $0) }
        let results = try EMALog(openingAt: db).sweep(specs, atStep: 17)
        #expect(results.map(\.spec.name) == ["ema-0.9", "ema-0.99", "w"])
        #expect(results[0].trackName == "ema-0.9" && results[1].trackName == nil)
        for (result, text) in zip(results, ["ema-0.9", "0.99", "decay=0.999,schedule=warmup,form=lerp"]) {
            let out = dir.file("\(result.spec.name).safetensors")
            try result.write(to: out, format: .safetensors, precision: .f32)
            let single = try Goldens.shadow(db, step: 17, .nameOrSpec(text), in: dir)
            #expect(try LoadedSafetensors(path: out).tensors.mapValues(\.bytes) == single.tensors.mapValues(\.bytes))
        }
    }
}
