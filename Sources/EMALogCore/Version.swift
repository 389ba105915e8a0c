import EMALogStore

/// The emalog version.
public let version = EMALogVersion.current
