import EMALogFormats

/// The residual chain: a raw chunk is a keyframe (no predecessors) or a residual against the same
/// chunk at the one or two stored steps just before it (`Codec.predecessors`); an ingest never
/// lets a residual reach before the latest keyframe, so decoding chunk k at step s walks back to
/// chunk k's latest keyframe at or before s and forward again.
public enum ResidualChain {
    /// The most earlier steps a residual is computed against.
    public static let depth = 2
}
