import EMALogCoreC

/// Process-wide settings a program using EMALogCore makes once, at start (the CLI does).
public enum ProcessTuning {
    /// glibc serves blocks over a threshold (128 KiB at first, raised as they are freed) with fresh
    /// mmap'd pages, which the kernel zeroes and faults in one page at a time. A replay or an
    /// ingest allocates chunk-sized blocks (up to 16 MiB) step after step, so it paid those faults
    /// on every step: ~40k page faults in a post-hoc replay of the 200-step benchmark trajectory,
    /// about a fifth of its system time. Blocks up to 32 MiB (glibc's largest threshold) now come
    /// from the heap and are reused; the heap's top is handed back once 256 MiB of it is free.
    /// Larger blocks (shadows of big tensors) are still mapped and unmapped on their own.
    public static func tuneAllocator() {
        emalog_tune_allocator()
    }
}
