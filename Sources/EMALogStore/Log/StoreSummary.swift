import EMALogFormats

/// Totals shown by `info`.
public struct StoreSummary: Sendable {
    public var stepCount: Int
    public var firstStep: Int?
    public var lastStep: Int?
    public var chunkCount: Int
    public var chunkBytes: Int
    public var snapshotCount: Int
    public var snapshotBytes: Int
    public var metricKeyCount: Int
    public var metricValueCount: Int
    public var ingestCount: Int
    /// Raw-step chunks by codec: (codec, chunks, stored bytes, raw bytes), most stored first.
    public private(set) var codecs: [(codec: String, chunks: Int, storedBytes: Int, rawBytes: Int)] = []

    public init(stepCount: Int, firstStep: Int?, lastStep: Int?, chunkCount: Int, chunkBytes: Int, snapshotCount: Int,
                snapshotBytes: Int, metricKeyCount: Int, metricValueCount: Int, ingestCount: Int,
                codecs: [(codec: String, chunks: Int, storedBytes: Int, rawBytes: Int)] = []) {
        self.stepCount = stepCount
        self.firstStep = firstStep
        self.lastStep = lastStep
        self.chunkCount = chunkCount
        self.chunkBytes = chunkBytes
        self.snapshotCount = snapshotCount
        self.snapshotBytes = snapshotBytes
        self.metricKeyCount = metricKeyCount
        self.metricValueCount = metricValueCount
        self.ingestCount = ingestCount
        // Most stored bytes first, then by name: the order `info` shows, whatever the backend.
        self.codecs = codecs.sorted { ($0.storedBytes, $1.codec) > ($1.storedBytes, $0.codec) }
    }
}
