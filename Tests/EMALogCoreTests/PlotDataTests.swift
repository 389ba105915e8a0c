import EMALogCore
import EMALogTestSupport
import Foundation
import Testing

/// What `plot` and `report` draw, against values computed independently by numpy
/// (`Tests/Fixtures/plot_goldens.py`, its output in `plot_goldens.out.txt`).
@Suite struct PlotDataTests {
    /// Tests/Fixtures/plot_goldens.py, "smoothing": weight, then the smoothed values (hex).
    static let smoothed: [(Double, [String])] = [
        (0.6, ["0x1.0000000000000p+0", "0x1.6000000000000p-1", "nan", "0x1.db6db6db6db6dp-2", "0x1.2b87878787878p+0", "inf", "0x1.d4a6fec1a4af4p-3", "0x1.7b6db6db6db6cp-3", "0x1.57f544251537ep+0", "0x1.980c8aba97c86p-1"]),
        (0.9, ["0x1.0000000000000p+0", "0x1.79435e50d7943p-1", "nan", "0x1.1d48bcee0d39bp-1", "0x1.f416ed76e18dbp-1", "inf", "0x1.f9e2db2920b69p-2", "0x1.a93cd225ee6a3p-2", "0x1.d248ccb5ad0dcp-1", "0x1.8069b9bb88a42p-1"]),
        (0.99, ["0x1.0000000000000p+0", "0x1.7f5b5630e2694p-1", "nan", "0x1.296186d4abcd0p-1", "0x1.e1c88a94bb962p-1", "inf", "0x1.1702f8c6c146dp-1", "0x1.e48a3784e0985p-2", "0x1.b0b5171323858p-1", "0x1.78b2842dc21bdp-1"]),
    ]

    /// plot_goldens.py, "tracks": step, then per EMA (ema-0.9, w) its relative distance and decay (hex).
    static let tracks: [(Int, [String])] = [
        (1, ["0x0.0p+0", "0x0.0p+0", "0x0.0p+0", "0x0.0p+0"]),
        (2, ["0x1.33222cbad5b5dp-5", "0x1.ccccccccccccdp-1", "0x1.f91e31841132dp-7", "0x1.7aeba0ce51aeap-2"]),
        (3, ["0x1.19477507d5e11p-4", "0x1.ccccccccccccdp-1", "0x1.cb11ca292c3eep-6", "0x1.09db279f3d606p-1"]),
        (4, ["0x1.8145407a4a79dp-4", "0x1.ccccccccccccdp-1", "0x1.39d1676a824a4p-5", "0x1.34d00ad6148e2p-1"]),
        (5, ["0x1.d3e5be189bb20p-4", "0x1.ccccccccccccdp-1", "0x1.7deb0ffef44e8p-5", "0x1.50e601acd4adep-1"]),
        (6, ["0x1.09e4a3c14c5e6p-3", "0x1.ccccccccccccdp-1", "0x1.b48f69bbdc6b2p-5", "0x1.64f0651af7480p-1"]),
        (7, ["0x1.21acc85e5710ep-3", "0x1.ccccccccccccdp-1", "0x1.dfd64c62ce95ap-5", "0x1.74152ef548b40p-1"]),
        (8, ["0x1.32528eb086cc4p-3", "0x1.ccccccccccccdp-1", "0x1.0094cd215da63p-4", "0x1.8000000000000p-1"]),
        (9, ["0x1.3d1f94d79da49p-3", "0x1.ccccccccccccdp-1", "0x1.0d82148d65a9ap-4", "0x1.89aa956c3bed9p-1"]),
        (10, ["0x1.434544557b8c3p-3", "0x1.ccccccccccccdp-1", "0x1.17c0256afc8e6p-4", "0x1.91b164c4fd314p-1"]),
        (11, ["0x1.45b190fe11563p-3", "0x1.ccccccccccccdp-1", "0x1.1fe46b65ddad9p-4", "0x1.987bdca976acfp-1"]),
        (12, ["0x1.4527858836f1bp-3", "0x1.ccccccccccccdp-1", "0x1.265327cdad71dp-4", "0x1.9e5155f6fd459p-1"]),
        (13, ["0x1.4241ac13d4b41p-3", "0x1.ccccccccccccdp-1", "0x1.2b31c33e4b6e4p-4", "0x1.a364c229953a3p-1"]),
        (14, ["0x1.3d8a32b43dabep-3", "0x1.ccccccccccccdp-1", "0x1.2ee55798c79c8p-4", "0x1.a7db8f3c18231p-1"]),
        (15, ["0x1.375b15dc1df1ap-3", "0x1.ccccccccccccdp-1", "0x1.317b05aea8d45p-4", "0x1.abd1e8fa199c5p-1"]),
        (16, ["0x1.3000896fd89ecp-3", "0x1.ccccccccccccdp-1", "0x1.3301f6f2835c8p-4", "0x1.af5d7419ca35dp-1"]),
        (17, ["0x1.27b433eb0ddb8p-3", "0x1.ccccccccccccdp-1", "0x1.338998d60062dp-4", "0x1.b28f1dce81fd0p-1"]),
        (18, ["0x1.1eb56ee93494fp-3", "0x1.ccccccccccccdp-1", "0x1.33432cb059871p-4", "0x1.b57457f32d7e1p-1"]),
        (19, ["0x1.155c60d1c4b2cp-3", "0x1.ccccccccccccdp-1", "0x1.329afaeea6d16p-4", "0x1.b817f6046fbe9p-1"]),
        (20, ["0x1.0bd0d7db2df05p-3", "0x1.ccccccccccccdp-1", "0x1.3192ca527d028p-4", "0x1.ba82caeee7637p-1"]),
        (21, ["0x1.020c9bb0ab970p-3", "0x1.ccccccccccccdp-1", "0x1.2fbf3facb8301p-4", "0x1.bcbc1beba5c65p-1"]),
        (22, ["0x1.f09c9c897bfaap-4", "0x1.ccccccccccccdp-1", "0x1.2d96724354dadp-4", "0x1.bec9f5898556ap-1"]),
        (23, ["0x1.dd79b0a4e55d4p-4", "0x1.ccccccccccccdp-1", "0x1.2b537d239ab54p-4", "0x1.c0b16b99af0aep-1"]),
        (24, ["0x1.caca8a4c24e80p-4", "0x1.ccccccccccccdp-1", "0x1.28ffad3279879p-4", "0x1.c276c9e7cf582p-1"]),
    ]

    static func value(_ text: String) -> Double {
        switch text {
        case "nan": .nan
        case "inf": .infinity
        default: Double(text)!
        }
    }

    static func same(_ a: Double, _ b: Double) -> Bool { a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) }

    @Test func smoothingIsTensorBoardsBitForBit() {
        let series = [1.0, 0.5, .nan, 0.25, 2.0, .infinity, -1.0, 0.125, 3.0, 0.0]
        for (weight, expected) in Self.smoothed {
            let got = Smoothing.debiased(series, weight: weight)
            #expect(zip(got, expected.map(Self.value)).allSatisfy { Self.same($0, $1) }, "weight \(weight): \(got)")
        }
        #expect(Smoothing.debiased(series, weight: 0).elementsEqual(series) { Self.same($0, $1) })
        #expect(Smoothing.debiased([2, 2, 2], weight: 0.9) == [2, 2, 2])
        #expect(Smoothing.debiased([], weight: 0.9).isEmpty)
    }

    static let specs = ["0.9", "name=w,decay=0.99,schedule=warmup,gamma=1,power=2/3,form=sub"]

    @Test func trackDistancesAndDecaysMatchNumpy() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("run.emalog")
        _ = try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: Self.specs, snapshotEvery: 5)
        let diagnostics = try EMALog(openingAt: db).trackDiagnostics()
        #expect(diagnostics.tensor == nil)
        #expect(diagnostics.curves.map(\.name) == ["ema-0.9", "w"])
        #expect(diagnostics.parameters == 8 * 5 + 8 * 6 + 3 + 3 * 8 + 4 + 8 * 2)
        for (k, curve) in diagnostics.curves.enumerated() {
            #expect(curve.steps == Self.tracks.map(\.0))
            #expect(curve.decaySteps == curve.steps)
            for (i, row) in Self.tracks.enumerated() {
                let distance = Self.value(row.1[2 * k]), decay = Self.value(row.1[2 * k + 1])
                // Sums of squares added in another order: equal to about 1e-15, relative.
                #expect(abs(curve.relativeDistance[i] - distance) <= 1e-12 * max(distance, 1e-300), "\(curve.name) step \(row.0)")
                #expect(curve.decays[i] == decay, "\(curve.name) step \(row.0)")
            }
        }
    }

    @Test func oneTensorAndPostHocSpecsAndARangeOfSteps() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("run.emalog")
        _ = try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: ["0.9"])
        let log = try EMALog(openingAt: db)
        let one = try log.trackDiagnostics(extra: ["name=slow,decay=0.99,every=3", "0.9"], tensor: "fc1.weight")
        #expect(one.tensor == "fc1.weight" && one.parameters == 48)
        // "0.9" is the stored track already; every=3 leaves out the steps it skips.
        #expect(one.curves.map(\.name) == ["ema-0.9", "slow"])
        #expect(one.curves[1].decaySteps == [1] + Array(stride(from: 4, through: 24, by: 3)))
        // One tensor's distance differs from the whole model's.
        let all = try log.trackDiagnostics()
        #expect(all.curves[0].relativeDistance[5] != one.curves[0].relativeDistance[5])
        let part = all.restricted(from: 5, to: 9)
        #expect(part.curves[0].steps == [5, 6, 7, 8, 9] && part.curves[0].relativeDistance == Array(all.curves[0].relativeDistance[4...8]))
        #expect(throws: QueryError.self) { _ = try log.trackDiagnostics(tensor: "nope") }
        #expect {
            _ = try log.trackDiagnostics(tensor: "bn.num_batches_tracked")
        } throws: { error in
            if case .unknownTensor(_, let available)? = error as? QueryError { return available.contains("fc1.weight") }
            return false
        }
    }

    @Test func aLogWithoutTracksNeedsASpec() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("run.emalog")
        _ = try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")])
        let log = try EMALog(openingAt: db)
        #expect(throws: QueryError.noTracks) { _ = try log.trackDiagnostics() }
        #expect(try log.trackDiagnostics(extra: ["0.5"]).curves.map(\.name) == ["ema-0.5"])
    }

    @Test func metricCurvesAreColumnsInStepOrder() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("run.emalog")
        _ = try Goldens.ingest(db, [Fixtures.path("mlp-f32/metrics.jsonl")])
        let log = try EMALog(openingAt: db)
        let table = try log.metrics(keys: [])
        let curves = try log.metricCurves(keys: [])
        #expect(curves.map(\.key) == table.keys)
        for (column, curve) in curves.enumerated() {
            let cells = table.rows.compactMap { row in row.values[column].map { (row.step, $0) } }
            #expect(curve.steps == cells.map(\.0) && curve.values == cells.map(\.1))
        }
        let part = try log.metricCurves(keys: ["loss"], from: 3, to: 5)
        #expect(part.count == 1 && part[0].steps == [3, 4, 5])
        #expect(throws: UnknownMetricKey.self) { _ = try log.metricCurves(keys: ["nope"]) }
    }
}
