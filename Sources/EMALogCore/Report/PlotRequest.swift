/// What `plot` draws: metric curves of some keys, and/or how each EMA track follows the weights,
/// for one or more logs side by side.
public struct PlotRequest: Sendable {
    /// One label per log, in the logs' order.
    public var labels: [String]
    /// Metric keys (empty: every key, up to `maxPanels`).
    public var keys: [String] = []
    /// TensorBoard's debiased smoothing weight in [0, 1) for metric curves.
    public var smoothing = 0.9
    public var logY = false
    public var from: Int?
    public var to: Int?
    /// Draw each track's distance to the weights (`--tracks`).
    public var tracks = false
    /// EMA specs measured beside the stored tracks.
    public var extraTracks: [String] = []
    /// Measure the track distance over this tensor only.
    public var tensor: String?
    public var width = 960
    public var plotHeight = 260
    public var title: String?

    /// Metric panels drawn when no key is named.
    public static let maxPanels = 24

    public init(labels: [String]) { self.labels = labels }
}
