import EMALogFormats

/// A stored EMA track.
public struct TrackRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    /// The canonical spec text (without the name).
    public var spec: String

    public init(id: Int64, name: String, spec: String) {
        self.id = id
        self.name = name
        self.spec = spec
    }
}
