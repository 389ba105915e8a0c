import Foundation

/// The processors this process may use, read once: Foundation re-reads the cgroup files on every
/// `activeProcessorCount` (two opens, reads and closes), which per chunk was most of a step of
/// many small tensors.
public enum Cores {
    public static let count = max(1, ProcessInfo.processInfo.activeProcessorCount)
}
