/// A long history reduced to what a screen can show without losing its shape: per pixel column,
/// the first, lowest, highest and last point (M4, Jugel et al., VLDB 2014). Lines through these
/// points cover exactly the pixels the full history would, so spikes and the band of a noisy
/// curve survive; every 100th point would drop them.
public enum Downsample {
    /// A run of drawable points, in x order; a gap (a value the scale cannot show) ends one.
    public typealias Segment = [(x: Double, y: Double)]

    /// Pixel positions of `ys` at `xs` (ascending) on `x` and `y`, at most four per column of
    /// `x`'s pixel range in each segment. Values the y scale cannot show (NaN, infinite, <= 0 on
    /// a log axis) break the line and are counted in `hidden`.
    public static func m4(xs: [Double], ys: [Double], x: Axis, y: Axis) -> (segments: [Segment], hidden: Int) {
        precondition(xs.count == ys.count, "one y per x")
        var segments: [Segment] = []
        var current: Segment = []
        var hidden = 0
        // The column being gathered: indices of first, min, max, last within it.
        var column = Int.min
        var first = 0, low = 0, high = 0, last = 0
        var transformed = [Double](repeating: .nan, count: ys.count)
        func flush() {
            guard column != Int.min else { return }
            var order = [first, low, high, last]
            order.sort()
            var previous = -1
            for i in order where i != previous {
                current.append((x.pixel(xs[i]), y.pixel(transformed[i])))
                previous = i
            }
            column = Int.min
        }
        for i in ys.indices {
            guard xs[i].isFinite, let t = y.scale.transform(ys[i]) else {
                hidden += 1
                flush()
                if !current.isEmpty { segments.append(current); current = [] }
                continue
            }
            transformed[i] = t
            let c = Int(x.pixel(xs[i]).rounded(.down))
            if c != column {
                flush()
                column = c
                first = i; low = i; high = i; last = i
            } else {
                if t < transformed[low] { low = i }
                if t > transformed[high] { high = i }
                last = i
            }
        }
        flush()
        if !current.isEmpty { segments.append(current) }
        return (segments, hidden)
    }
}
