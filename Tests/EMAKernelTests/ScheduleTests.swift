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

    @Test func coefficientsRoundOnceFromDouble() {
        let c = EMA.Coefficients(decay: 0.999, form: .seed)
        #expect(c.rate == Float(1.0 - 0.999))
        #expect(c.keep == Float(0.999))
        #expect(c.rate != 1 - Float(0.999))  // the Float subtraction would differ in the last bits
        let l = EMA.Coefficients(decay: 0.3, form: .lerp)
        #expect(l.rate == Float(0.7) && l.keep == Float(0.7) - 1)
    }
}
