import EMAKernel
import Foundation
import Testing

@Suite struct ScheduleTests {
    func at(_ s: Int, first: Int = 1, previous: Int? = nil) -> StepPosition {
        StepPosition(step: s, firstStep: first, previousStep: previous ?? s - 1)
    }

    @Test func constantIsTheDecay() throws {
        let spec = try EMASpec(parsing: "0.999")
        #expect(spec.decay(at: at(2)) == 0.999)
        #expect(spec.decay(at: at(100, previous: 90)) == 0.999)
    }

    @Test func perStepRaisesToTheGap() throws {
        let spec = try EMASpec(parsing: "decay=0.99,per=step")
        #expect(spec.decay(at: at(10, previous: 7)) == pow(0.99, 3.0))
        #expect(spec.decay(at: at(8)) == 0.99)
    }

    @Test func warmupFollowsTimm() throws {
        // timm ModelEmaV3.get_decay(n + 1) = 1 - (1 + n) ** -(2/3), capped at the decay.
        let spec = try EMASpec(parsing: "decay=0.999,schedule=warmup")
        for n in [1, 2, 10, 1000] {
            #expect(spec.decay(at: at(1 + n)) == min(1 - pow(1 + Double(n), -2.0 / 3.0), 0.999))
        }
        #expect(spec.decay(at: at(1 + 100_000)) == 0.999)
        let clamped = try EMASpec(parsing: "decay=0.999,schedule=warmup,min=0.5")
        #expect(clamped.decay(at: at(2)) == 0.5)
        let scaled = try EMASpec(parsing: "decay=0.999,schedule=warmup,gamma=4,power=3/4")
        #expect(scaled.decay(at: at(9)) == 1 - pow(1 + 8.0 / 4, -0.75))
    }

    @Test func tfCountsUpdates() throws {
        let spec = try EMASpec(parsing: "decay=0.999,schedule=tf")
        #expect(spec.decay(at: at(2)) == 2.0 / 11.0)
        #expect(spec.decay(at: at(11, first: 1)) == 11.0 / 20.0)
        #expect(spec.decay(at: at(100_000)) == 0.999)
    }

    @Test func powerUsesTheGap() throws {
        let spec = try EMASpec(parsing: "name=p,schedule=power,gamma=7")
        #expect(spec.decay(at: at(10, previous: 9)) == pow(1 - 1.0 / 10, 8))
        #expect(spec.decay(at: at(30, previous: 27)) == pow(1 - 3.0 / 30, 8))
    }

    @Test func scheduleCountsFromTheLogsFirstStep() throws {
        let spec = try EMASpec(parsing: "decay=0.999,schedule=tf")
        #expect(spec.decay(at: StepPosition(step: 501, firstStep: 500, previousStep: 500)) == 2.0 / 11.0)
    }

    /// ema-pytorch's own get_current_decay(), printed by Tests/Fixtures/ema_pytorch_decays.py
    /// (ema_pytorch_decays.out.txt) as hex floats, for update number n (the log's first step n = 0).
    static let emaPytorchDecays: [(String, [(Int, Double)])] = [
        ("decay=0.999,schedule=warmup,gamma=1.0,power=0.6666666666666666,min=0.0,after=0,decay_dtype=f32,form=lerp", [(1, 0x1.7aeba00000000p-2), (2, 0x1.09db280000000p-1), (3, 0x1.34d00c0000000p-1), (8, 0x1.89aa960000000p-1), (9, 0x1.91b1640000000p-1), (10, 0x1.987bdc0000000p-1), (16, 0x1.b28f1e0000000p-1), (17, 0x1.b574580000000p-1), (101, 0x1.e88bf80000000p-1), (102, 0x1.e8b2e40000000p-1), (117, 0x1.eab7c60000000p-1), (1000, 0x1.fae2280000000p-1), (1234, 0x1.fb8d540000000p-1), (4321, 0x1.fe12020000000p-1), (31622, 0x1.ff7cee0000000p-1), (1000000, 0x1.ff7cee0000000p-1)]),
        ("decay=0.9999,schedule=warmup,gamma=1.0,power=0.6666666666666666,min=0.0,after=100,decay_dtype=f32,form=lerp", [(1, 0), (2, 0), (3, 0), (8, 0), (9, 0), (10, 0), (16, 0), (17, 0), (101, 0x1.7aeba00000000p-2), (102, 0x1.09db280000000p-1), (117, 0x1.b574580000000p-1), (1000, 0x1.fa82f20000000p-1), (1234, 0x1.fb4b640000000p-1), (4321, 0x1.fe0a3c0000000p-1), (31622, 0x1.ff7ca60000000p-1), (1000000, 0x1.fff2e40000000p-1)]),
        ("decay=0.995,schedule=warmup,gamma=3.0,power=0.75,min=0.1,after=7,decay_dtype=f32,form=lerp", [(1, 0), (2, 0), (3, 0), (8, 0x1.8d75e80000000p-3), (9, 0x1.45e8280000000p-2), (10, 0x1.9f20400000000p-2), (16, 0x1.4afb0c0000000p-1), (17, 0x1.5587220000000p-1), (101, 0x1.da3d700000000p-1), (102, 0x1.da87820000000p-1), (117, 0x1.de53500000000p-1), (1000, 0x1.f96ac80000000p-1), (1234, 0x1.fa61760000000p-1), (4321, 0x1.fd70a40000000p-1), (31622, 0x1.fd70a40000000p-1), (1000000, 0x1.fd70a40000000p-1)]),
        ("decay=0.9,schedule=warmup,gamma=1e-09,power=0.6666666666666666,min=0.0,after=0,decay_dtype=f32,form=lerp", [(1, 0x1.cccccc0000000p-1), (2, 0x1.cccccc0000000p-1), (3, 0x1.cccccc0000000p-1), (8, 0x1.cccccc0000000p-1), (9, 0x1.cccccc0000000p-1), (10, 0x1.cccccc0000000p-1), (16, 0x1.cccccc0000000p-1), (17, 0x1.cccccc0000000p-1), (101, 0x1.cccccc0000000p-1), (102, 0x1.cccccc0000000p-1), (117, 0x1.cccccc0000000p-1), (1000, 0x1.cccccc0000000p-1), (1234, 0x1.cccccc0000000p-1), (4321, 0x1.cccccc0000000p-1), (31622, 0x1.cccccc0000000p-1), (1000000, 0x1.cccccc0000000p-1)]),
        ("decay=0.9999,schedule=warmup,gamma=1.0,power=0.5,min=0.0,after=0,decay_dtype=f32,form=lerp", [(1, 0x1.2bec340000000p-2), (2, 0x1.b0cb180000000p-2), (3, 0x1.0000000000000p-1), (8, 0x1.5555540000000p-1), (9, 0x1.5e17640000000p-1), (10, 0x1.65a04e0000000p-1), (16, 0x1.83d25e0000000p-1), (17, 0x1.8752080000000p-1), (20, 0x1.9045c00000000p-1), (38, 0x1.ae03ae0000000p-1), (54, 0x1.baf6400000000p-1), (101, 0x1.cd4df00000000p-1), (102, 0x1.cd8d180000000p-1), (117, 0x1.d0ddd80000000p-1), (1000, 0x1.efd1360000000p-1), (1234, 0x1.f16e480000000p-1), (4321, 0x1.f836440000000p-1), (31622, 0x1.fd1eee0000000p-1), (1000000, 0x1.ff7cee0000000p-1)]),
        ("decay=0.9999,schedule=warmup,gamma=7.0,power=0.5,min=0.0,after=3,decay_dtype=f32,form=lerp", [(1, 0), (2, 0), (3, 0), (4, 0x1.088af00000000p-4), (7, 0x1.9e42e00000000p-3), (8, 0x1.e3d0700000000p-3), (9, 0x1.1096e40000000p-2), (10, 0x1.2bec340000000p-2), (11, 0x1.4479900000000p-2), (12, 0x1.5ab00c0000000p-2), (16, 0x1.a231880000000p-2), (17, 0x1.b0cb180000000p-2), (101, 0x1.7bcd5c0000000p-1), (102, 0x1.7c6d5e0000000p-1), (117, 0x1.84da300000000p-1), (1000, 0x1.d53f980000000p-1), (1234, 0x1.d9800c0000000p-1), (4321, 0x1.eb66e60000000p-1), (31622, 0x1.f861fe0000000p-1), (1000000, 0x1.fea5380000000p-1)]),
        ("decay=0.9999,schedule=warmup,gamma=3.0,power=1.0,min=0.0,after=0,decay_dtype=f32,form=lerp", [(1, 0x1.0000000000000p-2), (2, 0x1.99999c0000000p-2), (3, 0x1.0000000000000p-1), (8, 0x1.745d180000000p-1), (9, 0x1.8000000000000p-1), (10, 0x1.89d89c0000000p-1), (16, 0x1.af286c0000000p-1), (17, 0x1.b333340000000p-1), (101, 0x1.f13b140000000p-1), (102, 0x1.f15f160000000p-1), (117, 0x1.f333340000000p-1), (1000, 0x1.fe77f60000000p-1), (1234, 0x1.fec2200000000p-1), (4321, 0x1.ffa5100000000p-1), (31622, 0x1.fff2e40000000p-1), (1000000, 0x1.fff2e40000000p-1)]),
        ("decay=0.9999,schedule=warmup,gamma=3.0,power=2.0,min=0.0,after=0,decay_dtype=f32,form=lerp", [(1, 0x1.c000040000000p-2), (2, 0x1.47ae160000000p-1), (3, 0x1.8000000000000p-1), (8, 0x1.d9ead80000000p-1), (9, 0x1.e000000000000p-1), (10, 0x1.e4bbd60000000p-1), (16, 0x1.f33c480000000p-1), (17, 0x1.f47ae20000000p-1), (101, 0x1.ff92f00000000p-1), (102, 0x1.ff95000000000p-1), (117, 0x1.ffae140000000p-1), (1000, 0x1.fff2e40000000p-1), (1234, 0x1.fff2e40000000p-1), (4321, 0x1.fff2e40000000p-1), (31622, 0x1.fff2e40000000p-1), (1000000, 0x1.fff2e40000000p-1)]),
        ("decay=0.9999,schedule=warmup,gamma=7.0,power=2.0,min=0.0,after=0,decay_dtype=f32,form=lerp", [(1, 0x1.e000080000000p-3), (2, 0x1.948b100000000p-2), (3, 0x1.051eb80000000p-1), (8, 0x1.907f6e0000000p-1), (9, 0x1.9e00000000000p-1), (10, 0x1.a930b80000000p-1), (16, 0x1.d0931e0000000p-1), (17, 0x1.d471c80000000p-1), (81, 0x1.fcc2a40000000p-1), (101, 0x1.fdd9600000000p-1), (102, 0x1.fde36e0000000p-1), (117, 0x1.fe5e4e0000000p-1), (139, 0x1.fed2b20000000p-1), (1000, 0x1.fff2e40000000p-1), (1234, 0x1.fff2e40000000p-1), (4321, 0x1.fff2e40000000p-1), (31622, 0x1.fff2e40000000p-1), (1000000, 0x1.fff2e40000000p-1)]),
    ]

    @Test func float32DecayIsEmaPytorchsBitForBit() throws {
        for (text, values) in Self.emaPytorchDecays {
            let spec = try EMASpec(parsing: text)
            for (n, expected) in values {
                let got = spec.decay(at: at(100 + n, first: 100))
                #expect(got == expected, "\(text) at n=\(n): \(got) vs \(expected)")
            }
        }
        // The Double schedule is not the same number: that was the ~1e-7 gap.
        let f64 = try EMASpec(parsing: "decay=0.999,schedule=warmup,form=lerp")
        #expect(f64.decay(at: at(11)) != 0x1.987bdcp-1)
        #expect(try EMASpec(parsing: "decay=0.9,decay_dtype=f32").decay(at: at(5)) == Double(Float(0.9)))
    }

    @Test func afterCopiesThenCountsFromTheStart() throws {
        // diffusers/timm get_decay(k) with update_after_step=3: 0 while k - 3 - 1 <= 0, then the
        // schedule of k - 4; the log's first step (n = 0) is update k = 1, so n = k - 1.
        let warm = try EMASpec(parsing: "decay=0.999,schedule=warmup,after=3")
        for n in 1...3 { #expect(warm.decay(at: at(1 + n)) == 0) }
        #expect(warm.decay(at: at(1 + 4)) == 1 - pow(2.0, -2.0 / 3.0))
        #expect(warm.decay(at: at(1 + 13)) == 1 - pow(11.0, -2.0 / 3.0))
        let tf = try EMASpec(parsing: "decay=0.999,schedule=tf,after=2")
        #expect(tf.decay(at: at(3)) == 0 && tf.decay(at: at(4)) == 2.0 / 11.0)
        let constant = try EMASpec(parsing: "decay=0.9,after=5")
        #expect(constant.decay(at: at(6)) == 0 && constant.decay(at: at(7)) == 0.9)
        // β = 0 through the form: lerp and seed give θ exactly; sub gives diffusers' s - (s - θ).
        let zero = EMA.Coefficients(decay: 0, form: .lerp)
        #expect(EMA.updated(3.25, toward: -1.5, zero) == -1.5)
        let sub = EMA.Coefficients(decay: 0, form: .sub)
        #expect(EMA.updated(1e8, toward: 0.1, sub) == 1e8 - (1e8 - Float(0.1)))
    }

    @Test func everySkipsTheStepsBetween() throws {
        let spec = try EMASpec(parsing: "decay=0.9,every=3")
        let updates = (11...20).filter { spec.coefficients(at: at($0, first: 10)) != nil }
        #expect(updates == [13, 16, 19])
        // A sparse log still counts n from the first step, whatever the steps between.
        #expect(spec.coefficients(at: at(17, first: 10, previous: 14)) == nil)
        #expect(spec.coefficients(at: at(16, first: 10, previous: 14)) != nil)
        let two = try EMASpec(parsing: "decay=0.9,every=2")
        #expect(two.coefficients(at: at(16, first: 10, previous: 14)) != nil)
        #expect(two.coefficients(at: at(23, first: 10, previous: 16)) == nil)
    }

    @Test func coefficientsRoundOnceFromDouble() {
        let c = EMA.Coefficients(decay: 0.999, form: .seed)
        #expect(c.rate == Float(1.0 - 0.999))
        #expect(c.keep == Float(0.999))
        #expect(c.rate != 1 - Float(0.999))  // the Float subtraction would differ in the last bits
        let l = EMA.Coefficients(decay: 0.3, form: .lerp)
        #expect(l.rate == Float(0.7) && l.keep == Float(0.7) - 1)
    }
}
