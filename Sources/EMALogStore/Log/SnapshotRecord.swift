import EMALogFormats

/// A stored shadow snapshot.
public struct SnapshotRecord: Sendable, Equatable {
    public var id: Int64
    public var trackID: Int64
    public var step: Int

    public init(id: Int64, trackID: Int64, step: Int) {
        self.id = id
        self.trackID = trackID
        self.step = step
    }
}
