import EMALogCore
import EMALogTestSupport
import FormatsTestSupport
import Testing

/// Shadows from emalog against independent implementations (Tests/Fixtures/make_fixtures.py), bit for bit.
@Suite struct GoldenTests {
    static let f32Tracks = ["0.9", "0.99", "name=tf,decay=0.999,schedule=tf",
                            "name=timm,decay=0.999,schedule=warmup,form=lerp", "name=c95,decay=0.95,form=lerp",
                            "name=dtf,decay=0.999,schedule=tf,form=sub", "name=dw,decay=0.999,schedule=warmup,form=sub",
                            "name=avg,decay=0.97,form=lerp"]

    static let f32Cases: [(track: String, step: Int, golden: String)] = [
        ("ema-0.9", 24, "seed-d0.9-step-24"), ("ema-0.99", 12, "seed-d0.99-step-12"),
        ("tf", 24, "seed-tf-d0.999-step-24"),
        ("timm", 12, "timm-v3-warmup-d0.999-step-12"), ("timm", 24, "timm-v3-warmup-d0.999-step-24"),
        ("c95", 12, "timm-v3-const-d0.95-step-12"), ("c95", 24, "timm-v3-const-d0.95-step-24"),
        ("dtf", 24, "diffusers-tf-d0.999-step-24"), ("dw", 24, "diffusers-warmup-d0.999-step-24"),
        ("avg", 24, "averagedmodel-d0.97-step-24"),
    ]

    /// Tracked at ingest (snapshots every 5 steps, so most queries replay from a snapshot) and post hoc.
    @Test(arguments: [1000, 5, 1])
    func trackedShadowsMatchTheReferences(snapshotEvery: Int) throws {
        let dir = TemporaryDirectory()
        let db = dir.file("f.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: Self.f32Tracks, snapshotEvery: snapshotEvery)
        for c in Self.f32Cases {
            let got = try Goldens.shadow(db, step: c.step, .nameOrSpec(c.track), in: dir)
            #expect(Goldens.differences(got, try Goldens.golden(c.golden + ".safetensors")) == [], "\(c.track) at \(c.step)")
            #expect(got.metadata["step"] == String(c.step))
        }
    }

    @Test func postHocShadowsMatchTheReferences() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("p.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")])
        // The log has no tracks: every spec is computed from the first step.
        let specs = ["ema-0.9": "0.9", "ema-0.99": "0.99", "tf": "decay=0.999,schedule=tf",
                     "timm": "decay=0.999,schedule=warmup,form=lerp", "c95": "decay=0.95,form=lerp",
                     "dtf": "decay=0.999,schedule=tf,form=sub", "dw": "decay=0.999,schedule=warmup,form=sub",
                     "avg": "decay=0.97,form=lerp"]
        for c in Self.f32Cases {
            let got = try Goldens.shadow(db, step: c.step, .nameOrSpec(specs[c.track]!), in: dir)
            #expect(Goldens.differences(got, try Goldens.golden(c.golden + ".safetensors")) == [], "post hoc \(c.track) at \(c.step)")
        }
        let viaDecay = try Goldens.shadow(db, step: 24, .decay(0.9), in: dir)
        #expect(Goldens.differences(viaDecay, try Goldens.golden("seed-d0.9-step-24.safetensors")) == [])
    }

    @Test func bfloat16ModelKeepsAFloat32ShadowAndCastsBack() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("b.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-bf16/steps")], tracks: ["0.999"], snapshotEvery: 4)
        let f32 = try Goldens.shadow(db, step: nil, .only, in: dir)
        #expect(Goldens.differences(f32, try Goldens.golden("bf16-f32shadow-d0.999-step-16.safetensors")) == [])
        #expect(f32.tensors["fc1.weight"]!.dtype == .f32)
        let param = try Goldens.shadow(db, step: 16, .only, precision: .param, in: dir)
        #expect(Goldens.differences(param, try Goldens.golden("bf16-param-d0.999-step-16.safetensors")) == [])
        #expect(param.tensors["bn.num_batches_tracked"]!.dtype == .i64)
    }

    @Test func sparseStepsUseTheGap() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("s.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-sparse/steps")],
                           tracks: ["name=p,schedule=power,gamma=6.94,form=lerp", "name=ps,decay=0.9,per=step", "0.9"], snapshotEvery: 10)
        for (track, golden) in [("p", "power-g6.94-lerp"), ("ps", "perstep-d0.9"), ("ema-0.9", "perupdate-d0.9")] {
            let got = try Goldens.shadow(db, step: 30, .nameOrSpec(track), in: dir)
            #expect(Goldens.differences(got, try Goldens.golden(golden + "-step-30.safetensors")) == [], "\(track)")
        }
    }

    @Test func mixedDTypesWidenAndCarryIntegers() throws {
        let dir = TemporaryDirectory()
        let db = dir.file("m.emalog")
        try Goldens.ingest(db, [Fixtures.path("mixed/steps")], tracks: ["0.8"])
        let got = try Goldens.shadow(db, step: 19, .only, in: dir)
        #expect(Goldens.differences(got, try Goldens.golden("mixed-seed-d0.8-step-19.safetensors")) == [])
        #expect(got.tensors["w64"]!.dtype == .f32 && got.tensors["mask"]!.dtype == .bool)
        let param = try Goldens.shadow(db, step: 19, .only, precision: .param, in: dir)
        #expect(param.tensors["w64"]!.dtype == .f64 && param.tensors["w16"]!.dtype == .f16)
    }

    /// Tensors split in 16-byte chunks, keyframes every 1, 3 or 32 steps (residual chains of every
    /// length): shadows and raw steps come back exact.
    @Test(arguments: [1, 3, 32])
    func multiChunkTensorsAndDeltaChainsGiveTheSameResults(keyframeEvery: Int) throws {
        let dir = TemporaryDirectory()
        let db = dir.file("c.emalog")
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps")], tracks: ["name=timm,decay=0.999,schedule=warmup,form=lerp"],
                           snapshotEvery: 7, chunkBytes: 16, keyframeEvery: keyframeEvery)
        for step in [12, 24] {
            let got = try Goldens.shadow(db, step: step, .only, in: dir)
            #expect(Goldens.differences(got, try Goldens.golden("timm-v3-warmup-d0.999-step-\(step).safetensors")) == [])
            let raw = dir.file("raw-\(step).safetensors")
            try EMALog(openingAt: db).writeRaw(atStep: step, to: raw, format: .safetensors)
            let source = try LoadedSafetensors(path: Fixtures.path("mlp-f32/steps/step-000000\(step).safetensors"))
            #expect(try LoadedSafetensors(path: raw).tensors.mapValues(\.bytes) == source.tensors.mapValues(\.bytes))
        }
        #expect(try EMALog(openingAt: db).audit().isClean)
    }

    @Test func acceptanceRunWhenPresent() throws {
        guard let run = Fixtures.acceptanceRun else { return }
        let dir = TemporaryDirectory()
        let db = dir.file("a.emalog")
        try Goldens.ingest(db, [run + "/steps"], tracks: ["0.99"])
        let got = try Goldens.shadow(db, step: 20, .only, in: dir)
        let golden = try LoadedSafetensors(path: run + "/../golden/seed-d0.99-step-00000020.safetensors")
        #expect(Goldens.differences(got, golden) == [])
    }
}
