import EMAKernel
import Testing

@Suite struct SpecParsingTests {
    @Test func shortFormIsAConstantSeedTrack() throws {
        let spec = try EMASpec(parsing: "0.999")
        #expect(spec.name == "ema-0.999")
        #expect(spec.decay == 0.999)
        #expect(spec.schedule == .constant && spec.form == .seed && spec.per == .update)
        #expect(spec.canonical == "decay=0.999,schedule=constant,per=update,form=seed")
    }

    @Test func longFormWithEveryKey() throws {
        let spec = try EMASpec(parsing: "name=slow,decay=0.9999,schedule=warmup,gamma=1,power=2/3,min=0,form=lerp")
        #expect(spec.name == "slow")
        #expect(spec.decay == 0.9999)
        #expect(spec.schedule == .warmup && spec.form == .lerp)
        #expect(spec.power == 2.0 / 3.0)
        #expect(spec.gamma == 1 && spec.minDecay == 0)
    }

    @Test func fractionsAreEvaluatedInDouble() throws {
        #expect(try EMASpec(parsing: "decay=999/1000").decay == 999.0 / 1000.0)
        #expect(try EMASpec(parsing: "name=w,decay=0.99,schedule=warmup,power=3/4").power == 0.75)
    }

    @Test func defaultPowerIsExactlyTwoThirds() throws {
        #expect(try EMASpec(parsing: "decay=0.99,schedule=warmup").power == 2.0 / 3.0)
    }

    @Test func namesDoNotCountForProfiles() throws {
        let a = try EMASpec(parsing: "name=a,decay=0.999")
        let b = try EMASpec(parsing: "0.999")
        #expect(a.hasSameProfile(as: b))
        #expect(!a.hasSameProfile(as: try EMASpec(parsing: "decay=0.999,form=lerp")))
    }

    @Test func canonicalParsesBack() throws {
        for text in ["0.99", "name=x,decay=0.9,schedule=tf,form=sub", "name=p,schedule=power,gamma=6.94,form=lerp",
                     "name=w,decay=0.9999,schedule=warmup,gamma=2,power=3/4,min=0.5", "name=s,decay=0.9,per=step"] {
            let spec = try EMASpec(parsing: text)
            let again = try EMASpec(parsing: spec.description)
            #expect(again == spec || (again.hasSameProfile(as: spec) && again.name == spec.name))
        }
    }

    @Test func startEveryAndDecayDTypeAreInTheCanonicalSpecOnlyWhenSet() throws {
        let spec = try EMASpec(parsing: "decay=0.9999,schedule=warmup,form=lerp,every=10,after=100,decay_dtype=f32")
        #expect(spec.after == 100 && spec.every == 10 && spec.decayDType == .f32)
        #expect(spec.canonical == "decay=0.9999,schedule=warmup,gamma=1,power=0.6666666666666666,min=0,after=100,every=10,decay_dtype=f32,form=lerp")
        #expect(spec.name == "ema-0.9999-warmup-after100-every10-f32-lerp")
        #expect(try EMASpec(parsing: spec.description) == spec)
        // Defaults leave the canonical spec of every existing profile as it was.
        let plain = try EMASpec(parsing: "decay=0.99,after=0,every=1,decay_dtype=f64")
        #expect(plain.canonical == "decay=0.99,schedule=constant,per=update,form=seed")
        #expect(plain.hasSameProfile(as: try EMASpec(parsing: "0.99")))
        #expect(!spec.hasSameProfile(as: try EMASpec(parsing: "decay=0.9999,schedule=warmup,form=lerp,every=10,after=100")))
    }

    @Test func sigmaRelGivesGamma() throws {
        let spec = try EMASpec(parsing: "name=p,schedule=power,sigma_rel=0.1")
        // numpy.roots([1, 7, 16 - 0.1**-2, 12 - 0.1**-2]).real.max() printed 6.937203937601809
        #expect(abs(spec.gamma - 6.937203937601809) < 1e-12)
        #expect(abs(PowerEMA.gamma(sigmaRel: 0.05) - 16.972198602303447) < 1e-11)
        #expect(abs(PowerEMA.gamma(sigmaRel: 0.15) - 3.5578687748994646) < 1e-12)
    }

    @Test(arguments: [
        ("1.5", "decay must be in [0, 1)"),
        ("abc", "expected a decay"),
        ("decay=0.9,colour=red", "unknown key 'colour'"),
        ("decay=0.9,decay=0.8", "given twice"),
        ("decay=0.9,schedule=cosine", "schedule=cosine is not one of"),
        ("decay=0.9,form=fma", "form=fma is not one of"),
        ("decay=0.9,schedule=warmup,per=step", "per applies to schedule=constant only"),
        ("decay=0.9,gamma=2", "gamma does not apply to schedule=constant"),
        ("schedule=power", "needs gamma or sigma_rel"),
        ("schedule=power,decay=0.9,gamma=7", "decay does not apply"),
        ("schedule=power,sigma_rel=0.5", "sigma_rel must be in"),
        ("name=,decay=0.9", "must be non-empty"),
        ("decay=1/0", "is not a number"),
        ("name=a b,decay=0.9", "must be non-empty letters"),
        ("schedule=warmup", "decay is required"),
        ("decay=0.9,after=-1", "after=-1 is not a whole number >= 0"),
        ("decay=0.9,after=2.5", "after=2.5 is not a whole number"),
        ("decay=0.9,every=0", "every=0 is not a whole number >= 1"),
        ("decay=0.9,every=1/2", "every=1/2 is not a whole number"),
        ("decay=0.9,decay_dtype=bf16", "decay_dtype=bf16 is not one of f64|f32"),
        ("decay=0.9,per=step,every=2", "every does not apply to per=step"),
        ("decay=0.9,per=step,decay_dtype=f32", "decay_dtype=f32 does not apply to per=step"),
        ("decay=0.9,per=step,after=2", "after does not apply to per=step"),
        ("schedule=power,gamma=7,after=3", "after does not apply to schedule=power"),
        ("schedule=power,gamma=7,every=3", "every does not apply to schedule=power"),
    ])
    func invalidSpecsSayWhy(text: String, reason: String) {
        #expect {
            try EMASpec(parsing: text)
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".contains(text)
        }
    }
}
