import EMALogFormats
import Synchronization

/// The chunks of one `StepEncoder.encode` call, shared by its workers.
///
/// `@unchecked Sendable` is safe here because: the input buffers and the job list are only read
/// while workers run; each result slot is written by exactly one worker (job numbers are handed
/// out by an atomic counter, each once); and `results()` reads the slots only after
/// `concurrentPerform` has returned, which orders every worker's writes before it. The object
/// never outlives the `encode` call that made it.
final class EncodingJobs: @unchecked Sendable {
    struct Job {
        var run: Int
        var index: Int
        /// The chunk's bytes within its tensor.
        var range: Range<Int>
    }

    private let runs: [ChunkRun]
    private let jobs: [Job]
    /// Job numbers, largest chunk first.
    private let order: [Int]
    private let slots: UnsafeMutableBufferPointer<EncodedStep.Chunk?>
    private let next = Atomic<Int>(0)
    private let totalBytes: Int

    init(runs: [ChunkRun], jobs: [Job]) {
        self.runs = runs
        self.jobs = jobs
        order = jobs.indices.sorted { jobs[$0].range.count > jobs[$1].range.count }
        slots = .allocate(capacity: jobs.count)
        slots.initialize(repeating: nil)
        totalBytes = jobs.reduce(0) { $0 + $1.range.count }
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    /// Takes jobs until none is left (one call per worker).
    func encodeUntilDone() {
        let coder = ChunkCoderPool.take()
        defer { ChunkCoderPool.give(coder) }
        while true {
            let k = next.wrappingAdd(1, ordering: .relaxed).oldValue
            guard k < order.count else { break }
            let job = jobs[order[k]]
            let run = runs[job.run]
            coder.threads = segmentThreads(chunk: job.range.count, total: totalBytes)
            let chunk = UnsafeRawBufferPointer(rebasing: run.bytes[job.range])
            let predecessors = run.predecessors.map { UnsafeRawBufferPointer(rebasing: $0[job.range]) }
            let (codec, payload) = coder.encode(chunk, dtype: run.tensor.dtype, predecessors: predecessors)
            let header = ChunkHeader(index: job.index, codec: codec, rawSize: job.range.count, checksum: XXH64.hash(chunk))
            // What each predecessor held when it was read, confirmed by its source like the chunk.
            let predecessorChecksums = codec.predecessors == 0 ? [] : predecessors.prefix(codec.predecessors).map { XXH64.hash($0) }
            slots[order[k]] = EncodedStep.Chunk(tensorID: run.tensor.id, tensorIndex: run.index, header: header, payload: payload,
                                                predecessorChecksums: predecessorChecksums)
        }
    }

    /// The encoded chunks in job order (after every worker has finished).
    func results() -> [EncodedStep.Chunk] { slots.map { $0! } }
}
