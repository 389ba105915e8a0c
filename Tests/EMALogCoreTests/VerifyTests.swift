import EMAKernel
import EMALogCore
import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// `EMALog.verify`: the goldens of the real libraries against their fixture runs, the library
/// layouts (synthetic ones made from the goldens, and the real ones of make_verify_checkpoints.py),
/// tampered copies, tolerances and the spec search.
@Suite struct VerifyTests {
    let dir = TemporaryDirectory()

    /// The f32 goldens (Tests/Fixtures/make_fixtures.py) and the spec that reproduces each.
    static let f32Cases: [(spec: String, step: Int, golden: String)] = [
        ("0.9", 24, "seed-d0.9-step-24"), ("0.99", 12, "seed-d0.99-step-12"),
        ("decay=0.999,schedule=tf", 24, "seed-tf-d0.999-step-24"),
        ("decay=0.999,schedule=warmup,form=lerp", 12, "timm-v3-warmup-d0.999-step-12"),
        ("decay=0.999,schedule=warmup,form=lerp", 24, "timm-v3-warmup-d0.999-step-24"),
        ("decay=0.95,form=lerp", 12, "timm-v3-const-d0.95-step-12"), ("decay=0.95,form=lerp", 24, "timm-v3-const-d0.95-step-24"),
        ("decay=0.999,schedule=tf,form=sub", 24, "diffusers-tf-d0.999-step-24"),
        ("decay=0.999,schedule=warmup,form=sub", 24, "diffusers-warmup-d0.999-step-24"),
        ("decay=0.97,form=lerp", 24, "averagedmodel-d0.97-step-24"),
    ]

    func log(_ run: String, _ files: [String]? = nil) throws -> EMALog {
        let db = dir.file(UUID().uuidString + ".emalog")
        try Goldens.ingest(db, files ?? [Fixtures.path(run)])
        return try EMALog(openingAt: db)
    }

    func golden(_ name: String) -> String { Fixtures.path("golden/\(name).safetensors") }

    /// A copy of `path` changed by `edit`.
    func tampered(_ path: String, _ edit: (inout SafetensorsBuilder) -> Void) throws -> String {
        var b = try SafetensorsBuilder(copying: path)
        edit(&b)
        let out = dir.file(UUID().uuidString + ".safetensors")
        try b.write(to: out)
        return out
    }

    @Test func everyGoldenIsExactAgainstItsRun() throws {
        let log = try log("mlp-f32/steps")
        for c in Self.f32Cases {
            let r = try log.verify(checkpoint: golden(c.golden), track: .nameOrSpec(c.spec), atStep: c.step)
            #expect(r.verdict == .exact, "\(c.golden): \(r.tensors.filter { $0.status != .exact })")
            #expect(r.layout == .stateDict && r.step == c.step && r.comparedCount >= 8)
            // Goldens of parameters only (diffusers) or without integers leave those in the log only.
            #expect(r.tensors.allSatisfy { $0.status == .exact || $0.status == .onlyInLog })
        }
        // A spec with another form differs by an ulp here and there.
        let other = try log.verify(checkpoint: golden("timm-v3-warmup-d0.999-step-24"),
                                   track: .nameOrSpec("decay=0.999,schedule=warmup,form=sub"), atStep: 24)
        #expect(other.verdict == .differs && other.tensors.compactMap(\.maxULP).max() == 1)
    }

    @Test func otherRunsGoldensAreExact() throws {
        let bf16 = try log("mlp-bf16/steps")
        // A BF16 checkpoint is compared with the Float32 shadow rounded to BF16; the F32 one as is.
        for name in ["bf16-param-d0.999-step-16", "bf16-f32shadow-d0.999-step-16"] {
            let r = try bf16.verify(checkpoint: golden(name), track: .decay(0.999), atStep: nil)
            #expect(r.verdict == .exact && r.step == 16, "\(name)")
        }
        let r = try bf16.verify(checkpoint: golden("bf16-param-d0.999-step-16"), track: .decay(0.999), atStep: nil)
        #expect(r.tensors.first { $0.name == "fc1.weight" }?.dtype == .bf16)
        let sparse = try log("mlp-sparse/steps")
        for (spec, name) in [("schedule=power,gamma=6.94,form=lerp", "power-g6.94-lerp"), ("decay=0.9,per=step", "perstep-d0.9"),
                             ("0.9", "perupdate-d0.9")] {
            #expect(try sparse.verify(checkpoint: golden(name + "-step-30"), track: .nameOrSpec(spec), atStep: 30).verdict == .exact)
        }
        let mixed = try log("mixed/steps")
        #expect(try mixed.verify(checkpoint: golden("mixed-seed-d0.8-step-19"), track: .decay(0.8), atStep: 19).verdict == .exact)
    }

    /// Synthetic layouts: the timm golden renamed and given counters as AveragedModel, ema-pytorch
    /// and a Lightning module would (the real ones are in realLibraryCheckpoints).
    @Test func libraryLayoutsAreRecognised() throws {
        let log = try log("mlp-f32/steps")
        let source = golden("timm-v3-const-d0.95-step-24")
        let raw = try LoadedSafetensors(path: Fixtures.path("mlp-f32/steps/step-00000024.safetensors"))
        let averaged = try tampered(source) { b in
            for i in b.tensors.indices { b.tensors[i].name = "module." + b.tensors[i].name }
            b.add("n_averaged", dtype: .i64, shape: [], bytes: [24, 0, 0, 0, 0, 0, 0, 0])
        }
        let emaPytorch = try tampered(source) { b in
            for i in b.tensors.indices { b.tensors[i].name = "ema_model." + b.tensors[i].name }
            for name in raw.order { let t = raw.tensors[name]!; b.add("online_model." + name, dtype: t.dtype, shape: t.shape, bytes: t.bytes) }
            b.add("initted", dtype: .bool, shape: [], bytes: [1])
            b.add("step", dtype: .i64, shape: [], bytes: [24, 0, 0, 0, 0, 0, 0, 0])
        }
        let lightning = try tampered(source) { b in
            for i in b.tensors.indices { b.tensors[i].name = "model." + b.tensors[i].name }
        }
        for (path, layout) in [(averaged, CheckpointLayout.averagedModel), (emaPytorch, .emaPytorch), (lightning, .prefixed("model."))] {
            let r = try log.verify(checkpoint: path, track: .nameOrSpec("decay=0.95,form=lerp"), atStep: 24)
            #expect(r.layout == layout)
            #expect(r.verdict == .exact, "\(layout)")
            #expect(r.comparedCount == 11)
            #expect(!r.tensors.contains { $0.status == .onlyInLog || $0.status == .onlyInCheckpoint })
        }
        let r = try log.verify(checkpoint: emaPytorch, track: .nameOrSpec("decay=0.95,form=lerp"), atStep: 24)
        #expect(r.tensors.first { $0.name == "step" }?.reason == .libraryCounter)
        #expect(r.tensors.first { $0.name == "online_model.fc1.weight" }?.reason == .onlineWeights)
        #expect(r.tensors.first { $0.name == "ema_model.fc1.weight" }?.logName == "fc1.weight")
    }

    @Test func tamperedCopiesAreReportedExactly() throws {
        let log = try log("mlp-f32/steps")
        let source = golden("timm-v3-warmup-d0.999-step-24")
        let spec = EMALog.TrackSelector.nameOrSpec("decay=0.999,schedule=warmup,form=lerp")
        let original = try LoadedSafetensors(path: source).floats("fc1.weight")
        // One ulp up in element 5 of fc1.weight.
        let ulp = try tampered(source) { b in
            let i = b.index(of: "fc1.weight")
            var values = original
            values[5] = values[5].nextUp
            b.tensors[i].bytes = values.withUnsafeBytes { Array($0) }
        }
        let r = try log.verify(checkpoint: ulp, track: spec, atStep: 24)
        #expect(r.verdict == .differs)
        let t = try #require(r.tensors.first { $0.name == "fc1.weight" })
        #expect(t.status == .differs && t.maxULP == 1 && t.firstIndex == 5)
        #expect(t.checkpointValue == Double(original[5].nextUp) && t.logValue == Double(original[5]))
        #expect(t.maxAbs == Double(original[5].nextUp) - Double(original[5]))
        #expect(r.tensors.filter { $0.status != .exact }.count == 1)
        #expect(try log.verify(checkpoint: ulp, track: spec, atStep: 24, tolerance: .ulps(1)).verdict == .withinTolerance)
        #expect(try log.verify(checkpoint: ulp, track: spec, atStep: 24, tolerance: .ulps(0)).verdict == .differs)
        #expect(try log.verify(checkpoint: ulp, track: spec, atStep: 24, tolerance: .absolute(1e-6)).verdict == .withinTolerance)
        #expect(try log.verify(checkpoint: ulp, track: spec, atStep: 24, tolerance: .absolute(1e-12)).verdict == .differs)

        // A missing tensor is only in the log: the tensors both have are still exact, unless strict.
        let missing = try tampered(source) { b in b.tensors.remove(at: b.index(of: "ln.bias")) }
        let m = try log.verify(checkpoint: missing, track: spec, atStep: 24)
        #expect(m.tensors.filter { $0.status != .exact }.map { [$0.name, $0.logName] } == [[nil, "ln.bias"]])
        #expect(m.tensors.last?.status == .onlyInLog)
        #expect(m.verdict == .exact)
        #expect(try log.verify(checkpoint: missing, track: spec, atStep: 24, strict: true).verdict == .differs)

        // A renamed tensor is only in the checkpoint under its new name, only in the log under the old.
        let renamed = try tampered(source) { b in b.tensors[b.index(of: "fc2.bias")].name = "head.bias" }
        let n = try log.verify(checkpoint: renamed, track: spec, atStep: 24)
        let odd = n.tensors.filter { $0.status != .exact }
        #expect(odd.map(\.status) == [.onlyInCheckpoint, .onlyInLog])
        #expect(odd.map(\.name) == ["head.bias", nil] && odd.map(\.logName) == [nil, "fc2.bias"])
        #expect(try log.verify(checkpoint: renamed, track: spec, atStep: 24, strict: true).verdict == .differs)

        // A changed integer buffer is not compared unless strict; a reshaped tensor differs.
        let counter = try tampered(source) { b in b.tensors[b.index(of: "bn.num_batches_tracked")].bytes[0] ^= 1 }
        let c = try log.verify(checkpoint: counter, track: spec, atStep: 24)
        #expect(c.verdict == .exact && c.tensors.first { $0.name == "bn.num_batches_tracked" }?.reason == .integerBuffer)
        #expect(try log.verify(checkpoint: counter, track: spec, atStep: 24, strict: true).verdict == .differs)
        let reshaped = try tampered(source) { b in b.tensors[b.index(of: "fc1.weight")].shape = [6, 8] }
        let s = try log.verify(checkpoint: reshaped, track: spec, atStep: 24)
        #expect(s.tensors.first { $0.name == "fc1.weight" }?.reason == .layoutMismatch(checkpoint: "F32[6, 8]", log: "F32[8, 6]"))
        #expect(s.verdict == .differs)
    }

    @Test func nothingInCommonIsNoVerdictOfExact() throws {
        let log = try log("mlp-f32/steps")
        let other = try tampered(golden("seed-d0.9-step-24")) { b in
            for i in b.tensors.indices { b.tensors[i].name = "x\(i)" }
        }
        let r = try log.verify(checkpoint: other, track: .decay(0.9), atStep: 24)
        #expect(r.comparedCount == 0 && r.verdict == .differs)
    }

    @Test func badCheckpointsAreBadInput() throws {
        let log = try log("mlp-f32/steps")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: golden("seed-d0.9-step-24")))
        let cut = dir.file("cut.safetensors")
        try bytes.prefix(bytes.count - 3).write(to: URL(fileURLWithPath: cut))
        #expect {
            try log.verify(checkpoint: cut, track: .decay(0.9), atStep: 24)
        } throws: { error in
            guard case let .badFile(path, .truncated)? = error as? IngestError else { return false }
            return path == cut
        }
        #expect(throws: IngestError.inputNotFound(path: dir.file("none.safetensors"))) {
            try log.verify(checkpoint: dir.file("none.safetensors"), track: .decay(0.9), atStep: 24)
        }
    }

    @Test func findSearchesFormsAndSchedules() throws {
        let log = try log("mlp-f32/steps")
        // On this run, warmup's lerp and sub-fma agree on every bit (w >= 0.5 only in the first
        // updates, where the two fused forms round alike): both are exact, lerp listed first.
        for (golden, decay, exact) in [("timm-v3-warmup-d0.999-step-24", 0.999, ["decay=0.999,schedule=warmup,form=lerp",
                                                                                  "decay=0.999,schedule=warmup,form=sub-fma"]),
                                       ("diffusers-tf-d0.999-step-24", 0.999, ["decay=0.999,schedule=tf,form=sub"]),
                                       ("seed-d0.9-step-24", 0.9, ["decay=0.9"])] {
            let candidates = try log.findSpec(checkpoint: self.golden(golden), decays: [decay], atStep: 24)
            #expect(candidates.count == 28)
            let found = candidates.filter { $0.report.verdict == .exact }.map(\.spec.canonical)
            #expect(found == (try exact.map { try EMASpec(parsing: $0).canonical }), "\(golden)")
            // One candidate per pass (a budget below one shadow) finds the same, in the same order.
            let oneByOne = try log.findSpec(checkpoint: self.golden(golden), decays: [decay], atStep: 24, memoryBudget: 1)
            #expect(oneByOne.map(\.spec) == candidates.map(\.spec))
        }
        // The decay from the checkpoint's metadata; none there and none given is refused.
        let withDecay = try tampered(golden("seed-d0.9-step-24")) { b in b.metadata["decay"] = "0.9" }
        #expect(try log.findSpec(checkpoint: withDecay, decays: [], atStep: 24)[0].report.verdict == .exact)
        #expect(throws: VerifyError.noDecayToTry(path: golden("seed-d0.9-step-24"))) {
            try log.findSpec(checkpoint: golden("seed-d0.9-step-24"), decays: [], atStep: 24)
        }
    }

    /// The start offset and ema-pytorch's arithmetic are searched too: each real-library
    /// checkpoint below is found from its decay alone.
    @Test func findSearchesStartOffsetsAndFloat32Decay() throws {
        let folder = Fixtures.path("verify/steps")
        let fromOne = try log("", (1...24).map { folder + String(format: "/step-%08d.safetensors", $0) })
        let fromZero = try log("verify/steps")
        for (log, name, decay, spec) in [
            (fromOne, "ema-pytorch-warmup-d0.999", 0.999, "decay=0.999,schedule=warmup,decay_dtype=f32,form=lerp"),
            (fromZero, "timm-v3-warmup-d0.999-state_dict_ema", 0.999, "decay=0.999,schedule=warmup,after=1,form=lerp"),
            (fromZero, "diffusers-tf-d0.999-parameters", 0.999, "decay=0.999,schedule=tf,after=1,form=sub"),
        ] {
            let best = try log.findSpec(checkpoint: Fixtures.path("verify/\(name).safetensors"), decays: [decay], atStep: 24)[0]
            #expect(best.report.verdict == .exact, "\(name): \(best.spec.canonical)")
            #expect(best.spec.hasSameProfile(as: try EMASpec(parsing: spec)), "\(name): \(best.spec.canonical)")
        }
        #expect(EMALog.findCandidates(decays: [0.9], layout: .emaPytorch).contains {
            $0.after == 100 && $0.every == 10 && $0.decayDType == .f32 && $0.schedule == .warmup
        })
    }

    /// Checkpoints written by the libraries themselves (Tests/Fixtures/make_verify_checkpoints.py,
    /// its output in make_verify_checkpoints.out.txt), each in its own layout.
    @Test func realLibraryCheckpoints() throws {
        let folder = Fixtures.path("verify/steps")
        let fromOne = try log("", (1...24).map { folder + String(format: "/step-%08d.safetensors", $0) })
        let fromZero = try log("verify/steps")
        let lightning = try log("verify/lightning-steps")
        let cases: [(EMALog, String, String, CheckpointLayout, VerifyTolerance, VerifyReport.Verdict, Int)] = [
            (fromOne, "timm-v3-warmup-d0.999-state_dict_ema", "decay=0.999,schedule=warmup,form=lerp", .stateDict, .exact, .exact, 11),
            (fromOne, "timm-v3-const-d0.95-wrapper", "decay=0.95,form=lerp", .prefixed("module."), .exact, .exact, 11),
            (fromZero, "timm-v3-const-d0.95-nostep", "decay=0.95,form=lerp", .stateDict, .exact, .exact, 11),
            (fromOne, "averagedmodel-d0.97", "decay=0.97,form=lerp", .averagedModel, .exact, .exact, 11),
            (fromOne, "diffusers-tf-d0.999-parameters", "decay=0.999,schedule=tf,form=sub", .stateDict, .exact, .exact, 9),
            (fromOne, "diffusers-tf-d0.999-save_pretrained", "decay=0.999,schedule=tf,form=sub", .stateDict, .exact, .differs, 9),
            (fromOne, "ema-pytorch-warmup-d0.999", "decay=0.999,schedule=warmup,form=lerp", .emaPytorch, .ulps(8), .withinTolerance, 2),
            (fromOne, "ema-pytorch-warmup-d0.999", "decay=0.999,schedule=warmup,decay_dtype=f32,form=lerp", .emaPytorch, .exact, .exact, 11),
            (fromOne, "ema-pytorch-warmup-d0.99-after5-every3", "decay=0.99,schedule=warmup,after=5,every=3,decay_dtype=f32,form=lerp",
             .emaPytorch, .exact, .exact, 11),
            (fromOne, "timm-v3-warmup-d0.999-after3", "decay=0.999,schedule=warmup,after=3,form=lerp", .stateDict, .exact, .exact, 11),
            (fromZero, "diffusers-warmup-d0.999-after3-foreach", "decay=0.999,schedule=warmup,after=4,form=sub-fma", .stateDict,
             .exact, .exact, 9),
            (lightning, "lightning-ema-d0.9-start4-every3", "decay=0.9,after=6,every=3", .prefixed("net."), .exact, .exact, 11),
            (fromOne, "ema-pytorch-const-d0.9", "decay=0.8999999761581421,form=lerp", .emaPytorch, .exact, .exact, 11),
            (lightning, "lightning-ema-d0.9", "0.9", .prefixed("net."), .exact, .exact, 11),
        ]
        for (log, name, spec, layout, tolerance, verdict, exact) in cases {
            let r = try log.verify(checkpoint: Fixtures.path("verify/\(name).safetensors"), track: .nameOrSpec(spec),
                                   atStep: 24, tolerance: tolerance)
            #expect(r.layout == layout, "\(name)")
            #expect(r.verdict == verdict, "\(name): \(r.tensors.filter { $0.status != .exact })")
            #expect(r.tensors.filter { $0.status == .exact && $0.dtype.isFloating }.count == exact, "\(name)")
        }
        let avg = try fromOne.verify(checkpoint: Fixtures.path("verify/averagedmodel-d0.97.safetensors"),
                                     track: .nameOrSpec("decay=0.97,form=lerp"), atStep: 24)
        #expect(avg.tensors.first { $0.name == "n_averaged" }?.reason == .libraryCounter)
        #expect(avg.tensors.first { $0.name == "module.bn.num_batches_tracked" }?.reason == .integerBuffer)
        // save_pretrained writes the buffers of a freshly made model: they differ, the parameters do not.
        let saved = try fromOne.verify(checkpoint: Fixtures.path("verify/diffusers-tf-d0.999-save_pretrained.safetensors"),
                                       track: .nameOrSpec("decay=0.999,schedule=tf,form=sub"), atStep: 24)
        #expect(saved.tensors.filter { $0.status == .differs }.map(\.name) == ["bn.running_mean", "bn.running_var"])
        // Without the new keys each of those is a different EMA, not a near miss.
        for (log, name, spec) in [(fromOne, "ema-pytorch-warmup-d0.99-after5-every3", "decay=0.99,schedule=warmup,after=5,decay_dtype=f32,form=lerp"),
                                  (fromZero, "diffusers-warmup-d0.999-after3-foreach", "decay=0.999,schedule=warmup,after=4,form=sub"),
                                  (lightning, "lightning-ema-d0.9-start4-every3", "decay=0.9,every=3")] {
            let r = try log.verify(checkpoint: Fixtures.path("verify/\(name).safetensors"), track: .nameOrSpec(spec), atStep: 24)
            #expect(r.verdict == .differs, "\(name) with \(spec)")
        }
        // The timm constant EMA without step= needs step 0: from step 1 it differs.
        #expect(try fromOne.verify(checkpoint: Fixtures.path("verify/timm-v3-const-d0.95-nostep.safetensors"),
                                   track: .nameOrSpec("decay=0.95,form=lerp"), atStep: 24).verdict == .differs)
    }
}
