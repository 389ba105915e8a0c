import EMAKernel
import EMALogCore
import EMALogStore
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// EDM2's post-hoc synthesis (`shadow --sigma-rel R`): the golden shadows of
/// Tests/Fixtures/make_phema_goldens.py (EDM2's solve and float32 accumulation, written
/// independently), bit for bit; used where a replay cannot be, refused where it cannot be made.
@Suite struct SynthesisTests {
    static let tracks = ["name=a,schedule=power,gamma=16.97,form=lerp", "name=b,schedule=power,gamma=6.94,form=lerp"]

    static func log(_ dir: TemporaryDirectory, tracks: [String] = tracks) throws -> String {
        let db = dir.file("p.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: tracks, snapshotEvery: 4)
        return db
    }

    @Test(arguments: [(0.07, 24), (0.15, 24), (0.07, 12)])
    func synthesisIsEDM2sBitForBit(sigma: Double, step: Int) throws {
        let dir = TemporaryDirectory()
        let db = try Self.log(dir)
        let result = try EMALog(openingAt: db).shadow(atStep: step, track: .nameOrSpec("schedule=power,sigma_rel=\(sigma)"), synthesize: true)
        let out = dir.file("s.safetensors")
        try result.write(to: out, format: .safetensors, precision: .f32)
        let golden = try LoadedSafetensors(path: Fixtures.path(String(format: "golden/phema-s%.2f-step-%d.safetensors", sigma, step)))
        #expect(Goldens.differences(try LoadedSafetensors(path: out), golden) == [])
        let synthesis = try #require(result.synthesis)
        #expect(synthesis.inputs.count == step / 2 && synthesis.inputs.map(\.track).prefix(2) == ["a", "b"])
        #expect(abs(synthesis.inputs.reduce(0) { $0 + $1.coefficient } - 1) < 1e-12)
        #expect(result.metadata["synthesis"] == "edm2-posthoc" && result.metadata["synthesis_inputs"]?.hasPrefix("a@4:") == true)
    }

    /// The coefficients and fit error make_phema_goldens.py printed (numpy's LAPACK solve).
    @Test func theSolveIsEDM2s() {
        let inputs = [4, 8, 12].flatMap { t in [16.97, 6.94].map { PostHocSynthesis.Profile(time: Double(t), gamma: $0) } }
        let solution = PostHocSynthesis.solve(inputs: inputs, target: .init(time: 12, gamma: PowerEMA.gamma(sigmaRel: 0.07)))!
        let printed = [6.269027831907e-07, -1.537309366985e-05, 2.799072545200e-03, -1.902126458898e-02, 4.409996739673e-01,
                       5.752372642674e-01]
        for (x, y) in zip(solution.coefficients, printed) { #expect(abs(x - y) <= 1e-11 * max(abs(y), 1e-6), "\(x) vs \(y)") }
        #expect(abs(solution.relativeError - 4.637011e-02) < 1e-7)
    }

    /// On a log that kept every raw step the exact replay is the default; on a thinned one the
    /// same question is answered by synthesis, close to the replay (the fit error is reported).
    @Test func aReplayWhereTheRawStepsAllowElseASynthesis() throws {
        let dir = TemporaryDirectory()
        let db = try Self.log(dir)
        let spec = EMALog.TrackSelector.nameOrSpec("schedule=power,sigma_rel=0.07")
        let exact = try EMALog(openingAt: db).shadow(atStep: 24, track: spec)
        #expect(exact.synthesis == nil)
        _ = try LogEdit.prune(log: db, rawEvery: 4, keepLast: 0, dryRun: false, arguments: ["test"])
        let made = try EMALog(openingAt: db).shadow(atStep: 24, track: spec)
        let synthesis = try #require(made.synthesis)
        #expect(synthesis.relativeError > 0 && synthesis.relativeError < 0.05)
        for tensor in exact.tensors where tensor.dtype.isFloating {
            let (a, b) = (exact.withValues(of: tensor) { Array($0) }, made.withValues(of: tensor) { Array($0) })
            let norm = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let distance = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
            #expect(distance <= 0.01 * norm, "\(tensor.name): \(distance / norm)")
        }
        // A sweep synthesises several in one pass, each as a shadow alone.
        let specs = try [0.07, 0.15].map { try EMASpec(parsing: "schedule=power,sigma_rel=\($0)") }
        let swept = try EMALog(openingAt: db).sweep(specs, atStep: 24)
        let floating = try #require(made.tensors.first { $0.dtype.isFloating })
        #expect(swept[0].withValues(of: floating) { Array($0) } == made.withValues(of: floating) { Array($0) })
        #expect(swept.allSatisfy { $0.synthesis != nil })
    }

    @Test func whatCannotBeSynthesisedIsRefusedSayingWhy() throws {
        let dir = TemporaryDirectory()
        let one = try Self.log(dir, tracks: [Self.tracks[0], "0.9"])
        #expect(throws: QueryError.cannotSynthesize(reason: "it needs the snapshots of two or more schedule=power tracks; the log has 1")) {
            try EMALog(openingAt: one).shadow(atStep: 24, track: .nameOrSpec("schedule=power,sigma_rel=0.07"), synthesize: true)
        }
        let dir2 = TemporaryDirectory()
        let db = try Self.log(dir2)
        #expect(throws: QueryError.cannotSynthesize(reason: "step 10 holds no snapshot of the power tracks; snapshot steps: the nearest "
            + "before is 8, the nearest after is 12")) {
            try EMALog(openingAt: db).shadow(atStep: 10, track: .nameOrSpec("schedule=power,sigma_rel=0.07"), synthesize: true)
        }
        #expect(throws: QueryError.self) { try EMALog(openingAt: db).shadow(atStep: 24, track: .nameOrSpec("a"), synthesize: true) }
        #expect(throws: QueryError.self) { try EMALog(openingAt: db).shadow(atStep: 24, track: .decay(0.9), synthesize: true) }
    }

    /// ema-pytorch's KarrasEMA (`clock=karras`) and PostHocEMA's synthesis: goldens of the library
    /// itself (Tests/Fixtures/make_karras_goldens.py), bit for bit.
    @Test func karrasTracksAndTheirSynthesisAreEmaPytorchs() throws {
        let dir = TemporaryDirectory()
        let db = try Self.log(dir, tracks: ["name=a,schedule=power,gamma=16.97,clock=karras,form=lerp",
                                            "name=b,schedule=power,gamma=6.94,clock=karras,form=lerp"])
        let track = try Goldens.shadow(db, step: 24, .nameOrSpec("a"), in: dir)
        #expect(Goldens.differences(track, try LoadedSafetensors(path: Fixtures.path("golden/karras-g16.97-step-24.safetensors"))) == [])
        let result = try EMALog(openingAt: db).shadow(atStep: 24, track: .nameOrSpec("schedule=power,sigma_rel=0.07"), synthesize: true)
        #expect(result.spec.clock == .karras && result.spec.canonical == "schedule=power,gamma=11.244939447857924,clock=karras,form=lerp")
        let out = dir.file("k.safetensors")
        try result.write(to: out, format: .safetensors, precision: .f32)
        let golden = try LoadedSafetensors(path: Fixtures.path("golden/karras-phema-s0.07-step-24.safetensors"))
        #expect(Goldens.differences(try LoadedSafetensors(path: out), golden) == [])
        // No normalisation, as ema-pytorch: the weights sum to what its solve gives (make_karras_goldens.out.txt).
        let sum = try #require(result.synthesis).inputs.reduce(0) { $0 + $1.coefficient }
        #expect(abs(sum - 1.0033331760253659) < 1e-9, "\(sum)")
        // Tracks of both clocks are not mixed in one synthesis.
        let other = TemporaryDirectory()
        let mixed = try Self.log(other, tracks: [Self.tracks[0], "name=k,schedule=power,gamma=6.94,clock=karras"])
        #expect(throws: QueryError.self) {
            try EMALog(openingAt: mixed).shadow(atStep: 24, track: .nameOrSpec("schedule=power,sigma_rel=0.07"), synthesize: true)
        }
    }

    @Test func theKarrasClockIsASpecKeyOfPowerTracks() throws {
        let spec = try EMASpec(parsing: "schedule=power,sigma_rel=0.05,clock=karras,form=lerp")
        #expect(spec.clock == .karras && spec.canonical.contains(",clock=karras,") && spec.name.hasSuffix("-karras-lerp"))
        #expect(try EMASpec(parsing: spec.description).hasSameProfile(as: spec))
        #expect(try EMASpec(parsing: "schedule=power,gamma=7").clock == .step)
        #expect(throws: EMASpecError.self) { try EMASpec(parsing: "decay=0.9,clock=karras") }
        #expect(throws: EMASpecError.self) { try EMASpec(parsing: "schedule=power,gamma=7,clock=wall") }
        // β on its own count of updates n = s - s0 + 1: (1 - 1/(n + 1))^(1 + γ), as KarrasEMA.beta.
        let k = try EMASpec(parsing: "schedule=power,gamma=16.97,clock=karras")
        #expect(k.decay(at: StepPosition(step: 24, firstStep: 1, previousStep: 23)) == 0.4801910461138915)
    }
}
