import EMAChart
import FormatsTestSupport
import Testing

/// A long history drawn within bounds and without losing its shape (M4: first, min, max, last per column).
@Suite struct DownsampleTests {
    let x = Axis(scale: .linear, extent: (0, 999_999), start: 0, end: 800, nice: false)
    let y = Axis(scale: .linear, extent: (-10, 10), start: 400, end: 0, nice: false)

    @Test func aMillionPointsBecomeAtMostFourPerColumn() {
        let n = 1_000_000
        var state: UInt64 = 42
        let xs = (0..<n).map(Double.init)
        let ys = (0..<n).map { _ -> Double in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53) - 0.5
        }
        var spiky = ys
        spiky[123_456] = 9.5  // one spike up, one down
        spiky[654_321] = -9.5
        let (segments, hidden) = Downsample.m4(xs: xs, ys: spiky, x: x, y: y)
        #expect(hidden == 0 && segments.count == 1)
        let points = segments[0]
        #expect(points.count <= 4 * 801)
        #expect(points.count >= 2 * 800)
        // The spikes survive, at their pixel.
        #expect(points.contains { $0.y == y.pixel(9.5) && $0.x == x.pixel(123_456) })
        #expect(points.contains { $0.y == y.pixel(-9.5) && $0.x == x.pixel(654_321) })
        // x never goes back, and the first and last points are the history's.
        #expect(zip(points, points.dropFirst()).allSatisfy { a, b in a.x <= b.x })
        #expect(points.first!.x == x.pixel(0) && points.last!.x == x.pixel(999_999))
    }

    @Test func aShortHistoryIsKeptWhole() {
        let xs: [Double] = [0, 250_000, 500_000, 999_999], ys: [Double] = [1, 2, -3, 4]
        let (segments, _) = Downsample.m4(xs: xs, ys: ys, x: x, y: y)
        #expect(segments.count == 1 && segments[0].count == 4)
        #expect(segments[0].map(\.y) == ys.map { y.pixel($0) })
    }

    @Test func undrawableValuesBreakTheLineAndAreCounted() {
        let log = Axis(scale: .log, extent: (-2, 2), start: 400, end: 0, nice: false)
        let xs: [Double] = [0, 1, 2, 3, 4, 5], ys: [Double] = [1, 0, 2, -1, .nan, 3]
        let (segments, hidden) = Downsample.m4(xs: xs, ys: ys, x: x, y: log)
        #expect(hidden == 3)
        #expect(segments.map(\.count) == [1, 1, 1])
    }
}
