import EMAChart
import Testing

/// Ticks at 1, 2 or 5 times a power of ten, labels with the digits their step needs, decades on a
/// log axis, nines on a decay axis.
@Suite struct AxisTests {
    func labels(_ scale: AxisScale, _ lo: Double, _ hi: Double, nice: Bool = true, steps: Bool = false) -> [String] {
        let extent = (scale.transform(lo)!, scale.transform(hi)!)
        return Axis(scale: scale, extent: extent, start: 0, end: 100, nice: nice, isSteps: steps).ticks().map(\.label)
    }

    @Test func linearTicksAreNiceAndWidenTheDomain() {
        #expect(labels(.linear, 0.13, 0.91) == ["0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        #expect(labels(.linear, -3, 7) == ["-4", "-2", "0", "2", "4", "6", "8"])
        #expect(labels(.linear, 0.00101, 0.00109) == ["0.00100", "0.00102", "0.00104", "0.00106", "0.00108", "0.00110"])
        #expect(labels(.linear, 2e7, 9e7).first == "2e7")
        #expect(labels(.linear, 1e-6, 5e-6).contains("2e-6"))
        let axis = Axis(scale: .linear, extent: (0.13, 0.91), start: 0, end: 100, nice: true)
        #expect(axis.lower == -0.02 && axis.upper == 1.02)
    }

    @Test func stepLabelsAreShort() {
        #expect(labels(.linear, 0, 100_000, nice: false, steps: true) == ["0", "20k", "40k", "60k", "80k", "100k"])
        #expect(labels(.linear, 0, 3_000_000, nice: false, steps: true).contains("1.5M"))
        #expect(labels(.linear, 1, 7, nice: false, steps: true) == ["1", "2", "3", "4", "5", "6", "7"])
        #expect(labels(.linear, 0, 4e18, nice: false, steps: true) == ["0", "1e18", "2e18", "3e18", "4e18"])
        #expect(labels(.linear, 0, 3e9, nice: false, steps: true).contains("1.5e9"))
    }

    @Test func logTicksAreDecades() {
        #expect(labels(.log, 0.004, 0.9) == ["0.001", "0.01", "0.1", "1"])
        #expect(labels(.log, 1e-7, 1e-5) == ["1e-7", "1e-6", "1e-5"])
        // Less than two decades: nice steps of the values themselves.
        #expect(labels(.log, 2, 3).count >= 2)
    }

    @Test func ninesTicksAreDecays() {
        #expect(labels(.nines, 0, 0.9999) == ["0", "0.9", "0.99", "0.999", "0.9999"])
        #expect(AxisScale.nines.transform(1) == nil && AxisScale.nines.transform(0.99)! > 1.99)
        // One constant decay: the axis still has labelled ticks.
        #expect(labels(.nines, 0.999, 0.999).contains("0.999"))
    }
}
