import EMAKernel
import EMALogCore
import EMALogStore
import EMALogSQLite
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Retention (`--raw-every K --raw-keep-last N`, `prune`): the raw steps a policy keeps come back
/// byte for byte as ingested, every tracked shadow at a snapshot step is the full log's bit for
/// bit, and what needs a step that was left out is refused naming the steps that can answer.
@Suite struct RetentionTests {
    static let steps = Fixtures.path("mlp-f32/steps")  // steps 1 ... 24
    static let tracks = ["0.9", "name=warm,decay=0.99,schedule=warmup", "name=p,schedule=power,sigma_rel=0.1"]

    @discardableResult
    static func ingest(_ db: String, _ inputs: [String] = [steps], tracks: [String] = tracks, rawEvery: Int? = nil,
                       rawKeepLast: Int? = nil, snapshotEvery: Int? = nil, chunkBytes: Int = 64 << 20,
                       keyframeEvery: Int = 32) throws -> IngestReport {
        try Goldens.ingest(db, inputs, tracks: tracks, snapshotEvery: snapshotEvery, chunkBytes: chunkBytes, keyframeEvery: keyframeEvery,
                           rawEvery: rawEvery, rawKeepLast: rawKeepLast)
    }

    static func rawSteps(_ db: String) throws -> [Int] {
        let store = try SQLiteLogStore.openForReading(at: db)
        defer { try? store.close() }
        return try store.read { r in try r.rawStepNumbers(in: 0...Int.max) }
    }

    /// The raw tensors of `step` as stored, against the step file they came from, byte for byte.
    static func expectRawAsIngested(_ db: String, step: Int, in dir: TemporaryDirectory) throws {
        let out = dir.file("raw-\(step)-\(UUID().uuidString).safetensors")
        try EMALog(openingAt: db).writeRaw(atStep: step, to: out, format: .safetensors)
        let source = try LoadedSafetensors(path: steps + String(format: "/step-%08d.safetensors", step))
        #expect(try LoadedSafetensors(path: out).tensors.mapValues(\.bytes) == source.tensors.mapValues(\.bytes), "step \(step)")
    }

    static func expectSameShadows(_ a: String, _ b: String, steps: [Int], in dir: TemporaryDirectory) throws {
        for step in steps {
            for track in ["ema-0.9", "warm", "p"] {
                let x = try Goldens.shadow(a, step: step, .nameOrSpec(track), in: dir)
                let y = try Goldens.shadow(b, step: step, .nameOrSpec(track), in: dir)
                #expect(x.tensors.mapValues(\.bytes) == y.tensors.mapValues(\.bytes), "\(track) at step \(step)")
            }
        }
    }

    @Test func anIngestWithAPolicyKeepsItsRawStepsAndEveryTrackExact() throws {
        let dir = TemporaryDirectory()
        let full = dir.file("full.emalog"), thin = dir.file("thin.emalog")
        try Self.ingest(full, snapshotEvery: 4)
        let report = try Self.ingest(thin, rawEvery: 4, rawKeepLast: 3)
        // The first step, multiples of 4, the last 3; snapshots every 4 by default (K).
        #expect(try Self.rawSteps(thin) == [1, 4, 8, 12, 16, 20, 22, 23, 24])
        #expect(report.thinning.steps == 15 && report.thinning.reclaimedBytes > 0)
        let info = try EMALog(openingAt: thin).info()
        #expect(info.stepCount == 24 && info.rawStepCount == 9 && info.retention == RetentionPolicy(rawEvery: 4, rawKeepLast: 3))
        #expect(info.tracks.map(\.snapshotSteps) == Array(repeating: [4, 8, 12, 16, 20, 24], count: 3))
        #expect(info.projectedBytesPer1000Steps != nil)
        try Self.expectSameShadows(thin, full, steps: [4, 8, 12, 16, 20, 24], in: dir)
        for step in [1, 4, 12, 20, 22, 23, 24] { try Self.expectRawAsIngested(thin, step: step, in: dir) }
        let audit = try EMALog(openingAt: thin).audit()
        #expect(audit.isClean, "\(audit.problems)")
        #expect(audit.stepsWithoutRaw == 15 && !audit.information.isEmpty)
    }

    @Test func whatNeedsALeftOutStepIsRefusedNamingTheStepsThatCanAnswer() throws {
        let dir = TemporaryDirectory()
        let thin = dir.file("thin.emalog")
        try Self.ingest(thin, rawEvery: 4, rawKeepLast: 3)
        let log = try EMALog(openingAt: thin)
        #expect(throws: QueryError.rawNotKept(what: nil, missing: 6, below: 4, above: 8)) {
            try log.writeRaw(atStep: 6, to: dir.file("r.safetensors"), format: .safetensors)
        }
        // A tracked shadow starts from its snapshot at 4 and needs steps 5 and 6.
        #expect(throws: QueryError.rawNotKept(what: "the EMA ema-0.9 at step 6", missing: 5, below: 4, above: 8)) {
            try log.shadow(atStep: 6, track: .nameOrSpec("0.9"))
        }
        // Post hoc from the first step: only step 1 can answer.
        #expect(throws: QueryError.rawNotKept(what: "the EMA ema-0.95 at step 12 (computed post hoc from the first step)",
                                              missing: 2, below: 1, above: nil)) {
            try log.shadow(atStep: 12, track: .decay(0.95))
        }
        // A new track needs every step; a stored step given again with other bytes cannot be compared.
        #expect(throws: IngestError.trackNeedsRawSteps(name: "ema-0.95", lastStep: 24)) {
            try Self.ingest(thin, tracks: ["0.95"])
        }
    }

    @Test func aPolicyIsRecordedAndLaterIngestsFollowIt() throws {
        let dir = TemporaryDirectory()
        let full = dir.file("full.emalog"), thin = dir.file("thin.emalog")
        try Self.ingest(full, snapshotEvery: 5)
        let first = try dir.copySteps(from: Self.steps, to: "a") { (Int($0.filter(\.isNumber)) ?? 0) <= 13 }
        let second = try dir.copySteps(from: Self.steps, to: "b") { (Int($0.filter(\.isNumber)) ?? 0) > 13 }
        try Self.ingest(thin, [first], rawEvery: 5, rawKeepLast: 2)
        #expect(try Self.rawSteps(thin) == [1, 5, 10, 12, 13])
        try Self.ingest(thin, [second])  // no flags: the log's policy
        // 13 stays: the first ingest's last snapshot is there, and the fixture has an integer
        // tensor (a shadow's integer tensors are its step's raw values; no snapshot holds them).
        #expect(try Self.rawSteps(thin) == [1, 5, 10, 13, 15, 20, 23, 24])
        try Self.expectSameShadows(thin, full, steps: [5, 10, 13, 15, 20, 24], in: dir)
        for step in [1, 5, 10, 13, 15, 20, 23, 24] { try Self.expectRawAsIngested(thin, step: step, in: dir) }
        #expect(try EMALog(openingAt: thin).audit().isClean)
    }

    /// Small chunks (several per tensor) and keyframes inside the dropped runs (every 3 steps) or
    /// none there (every 64): the kept steps re-encoded after a dropped run decode byte for byte.
    @Test(arguments: [3, 64]) func keptStepsDecodeAfterEveryKindOfDroppedRun(keyframeEvery: Int) throws {
        let dir = TemporaryDirectory()
        let thin = dir.file("thin.emalog")
        try Self.ingest(thin, rawEvery: 6, rawKeepLast: 1, chunkBytes: 256, keyframeEvery: keyframeEvery)
        #expect(try Self.rawSteps(thin) == [1, 6, 12, 18, 24])
        for step in [1, 6, 12, 18, 24] { try Self.expectRawAsIngested(thin, step: step, in: dir) }
        #expect(try EMALog(openingAt: thin).audit().isClean)
    }

    @Test func pruneLeavesWhatAnIngestWithThePolicyLeaves() throws {
        let dir = TemporaryDirectory()
        let pruned = dir.file("pruned.emalog"), thin = dir.file("thin.emalog"), full = dir.file("full.emalog")
        for log in [pruned, full] { try Self.ingest(log, snapshotEvery: 4) }
        try Self.ingest(thin, rawEvery: 4, rawKeepLast: 3)
        let policy = RetentionPolicy(rawEvery: 4, rawKeepLast: 3)
        let dry = try LogEdit.prune(log: pruned, rawEvery: policy.rawEvery, keepLast: policy.rawKeepLast, dryRun: true, arguments: ["test"])
        #expect(dry.stepsDropped == 15 && dry.reclaimedBytes > 0)
        #expect(try Self.rawSteps(pruned).count == 24, "a dry run changes nothing")
        let done = try LogEdit.prune(log: pruned, rawEvery: policy.rawEvery, keepLast: policy.rawKeepLast, dryRun: false, arguments: ["test"])
        #expect(done.stepsDropped == 15 && done.reclaimedBytes == dry.reclaimedBytes && done.sizeAfter < done.sizeBefore)
        #expect(try Self.rawSteps(pruned) == Self.rawSteps(thin))
        try Self.expectSameShadows(pruned, full, steps: [4, 8, 12, 16, 20, 24], in: dir)
        for step in [1, 4, 8, 20, 22, 24] { try Self.expectRawAsIngested(pruned, step: step, in: dir) }
        #expect(try EMALog(openingAt: pruned).audit().isClean)
        #expect(try EMALog(openingAt: pruned).info().retention == policy)
        let again = try LogEdit.prune(log: pruned, rawEvery: policy.rawEvery, keepLast: policy.rawKeepLast, dryRun: false, arguments: ["test"])
        #expect(again.stepsDropped == 0)
    }

    /// A pinned step keeps its raw weights; steps after the tracks' latest snapshot keep theirs
    /// (the next ingest replays them) until a snapshot passes them.
    @Test func pinnedStepsAndStepsPastTheLatestSnapshotKeepTheirRawWeights() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("p.emalog")
        try Self.ingest(db, snapshotEvery: 10)
        _ = try LogEdit.pin(log: db, step: .number(7), name: "best")
        // The ingest ends with a snapshot at 24: everything is decided by the policy.
        let done = try LogEdit.prune(log: db, rawEvery: 10, keepLast: 0, dryRun: false, arguments: ["test"])
        #expect(try Self.rawSteps(db) == [1, 7, 10, 20, 24])  // 24: a snapshot step, and the fixture has an integer tensor
        #expect(done.protectedAfter == nil)
        try Self.expectRawAsIngested(db, step: 7, in: dir)
        let shadow = try EMALog(openingAt: db).shadow(atStep: 24, track: .nameOrSpec("warm"))
        #expect(shadow.startedFrom == 24)
    }

    /// `plot --tracks` on a thinned log draws what it can: the replay from the first step as far as
    /// the raw steps allow, then each track at its snapshot steps, where its distance to the raw
    /// weights is the full log's (up to the order of the Double sums).
    @Test func trackCurvesOnAThinnedLogAreTheFullLogsWhereTheyCanBeDrawn() throws {
        let dir = TemporaryDirectory()
        let full = dir.file("full.emalog"), thin = dir.file("thin.emalog")
        try Self.ingest(full, snapshotEvery: 4)
        try Self.ingest(thin, rawEvery: 4, rawKeepLast: 3)
        let a = try EMALog(openingAt: thin).trackDiagnostics()
        let b = try EMALog(openingAt: full).trackDiagnostics()
        #expect(a.distancesThrough == 1 && b.distancesThrough == nil)
        for (x, y) in zip(a.curves, b.curves) {
            #expect(x.steps == [1, 4, 8, 12, 16, 20, 24], "\(x.name)")
            #expect(x.decaySteps == y.decaySteps && x.decays == y.decays)
            for (step, value) in zip(x.steps, x.relativeDistance) {
                let reference = y.relativeDistance[y.steps.firstIndex(of: step)!]
                #expect(abs(value - reference) <= 1e-9 * max(abs(reference), 1e-30), "\(x.name) at step \(step): \(value) vs \(reference)")
            }
        }
    }

    /// What a thinned log cannot do is refused before anything changes: a truncation where a track
    /// could not resume, a pin of a step whose raw weights are gone; a prune given K alone keeps
    /// the log's N.
    @Test func truncationsAndPinsAThinnedLogCannotHonourAreRefused() throws {
        let dir = TemporaryDirectory()
        let thin = dir.file("thin.emalog")
        try Self.ingest(thin, rawEvery: 4, rawKeepLast: 3)
        #expect(throws: QueryError.rawNotKept(what: "a truncation after step 6 (the next ingest resumes every track there)",
                                              missing: 5, below: 4, above: 8)) {
            _ = try LogEdit.truncate(log: thin, after: .number(6), arguments: ["test"])
        }
        #expect(throws: QueryError.rawNotKept(what: "a pin", missing: 6, below: 4, above: 8)) {
            _ = try LogEdit.pin(log: thin, step: .number(6), name: "best")
        }
        #expect(try Self.rawSteps(thin).count == 9, "nothing changed")
        let done = try LogEdit.truncate(log: thin, after: .number(8), arguments: ["test"])
        #expect(done.after == 8 && done.removed.steps == 16)
        // The log's N (3) stays when prune is given K alone.
        let pruned = try LogEdit.prune(log: thin, rawEvery: 4, keepLast: nil, dryRun: true, arguments: ["test"])
        #expect(pruned.policy == RetentionPolicy(rawEvery: 4, rawKeepLast: 3))
    }

    /// An untracked EMA on a thinned log that neither a replay nor a synthesis can make: the
    /// refusal names the steps a replay can answer, and why no synthesis.
    @Test func neitherReplayNorSynthesisIsRefusedNamingBoth() throws {
        let dir = TemporaryDirectory()
        let thin = dir.file("thin.emalog")
        try Self.ingest(thin, rawEvery: 4)  // one power track ("p"): no synthesis
        #expect(throws: QueryError.rawNotKept(what: "the EMA ema-power-11.244939447857924 at step 24 (computed post hoc from the first "
            + "step) (no synthesis from snapshots either: it needs the snapshots of two or more schedule=power tracks; the log has 1)",
                                              missing: 2, below: 1, above: nil)) {
            try EMALog(openingAt: thin).shadow(atStep: 24, track: .nameOrSpec("schedule=power,sigma_rel=0.07"))
        }
    }

    /// A log ingested with the default snapshots (only at its end): prune writes a snapshot of
    /// every track at each kept multiple of K first, so a tracked EMA reads there as in the full
    /// log; a later ingest that brings a policy leaves the history it found alone.
    @Test func pruneSnapshotsTheKeptStepsAndAnIngestWithANewPolicyKeepsTheHistory() throws {
        let dir = TemporaryDirectory()
        let full = dir.file("full.emalog"), pruned = dir.file("pruned.emalog"), later = dir.file("later.emalog")
        try Self.ingest(full, snapshotEvery: nil)
        try FileManager.default.copyItem(atPath: full, toPath: pruned)
        let done = try LogEdit.prune(log: pruned, rawEvery: 4, keepLast: 0, dryRun: false, arguments: ["test"])
        #expect(done.snapshotsWritten == 3 * 5 && done.stepsDropped > 0)  // 4, 8, 12, 16, 20 (24 has the ingest's)
        try Self.expectSameShadows(pruned, full, steps: [4, 8, 12, 16, 20, 24], in: dir)
        #expect(try EMALog(openingAt: pruned).audit().isClean)

        let first = try dir.copySteps(from: Self.steps, to: "a") { (Int($0.filter(\.isNumber)) ?? 0) <= 12 }
        let second = try dir.copySteps(from: Self.steps, to: "b") { (Int($0.filter(\.isNumber)) ?? 0) > 12 }
        try Self.ingest(later, [first], snapshotEvery: nil)
        try Self.ingest(later, [second], rawEvery: 4)
        #expect(try Self.rawSteps(later) == Array(1...12) + [16, 20, 24], "steps 1-12 came before the policy")
        try Self.expectSameShadows(later, full, steps: [16, 20, 24], in: dir)
    }
}
