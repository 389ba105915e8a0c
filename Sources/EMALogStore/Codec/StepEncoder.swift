import Dispatch
import EMALogFormats
import Foundation

/// A run of chunks of one tensor to encode: the tensor's whole bytes at this step and at the
/// steps it is predicted from (newest first); only chunks `chunks` of them are read.
struct ChunkRun {
    var tensor: TensorRecord
    /// The tensor's index in the step's sources (`StepSource.confirm`).
    var index: Int
    var chunks: Range<Int>
    var bytes: UnsafeRawBufferPointer
    var predecessors: [UnsafeRawBufferPointer]
}

/// A step's chunks, encoded and checksummed, ready to store. Owns its payloads: it can cross to
/// the writer's thread while the caller goes on.
struct EncodedStep: Sendable {
    struct Chunk: Sendable {
        var tensorID: Int64
        /// The tensor's index in the step's sources.
        var tensorIndex: Int
        var header: ChunkHeader
        var payload: [UInt8]
        /// XXH64 of the same chunk of each predecessor, as the encoder read it (newest first).
        var predecessorChecksums: [UInt64]
    }

    var chunks: [Chunk]

    /// Bytes the payloads take.
    var storedBytes: Int { chunks.reduce(0) { $0 + $1.payload.count } }

    /// Confirms with each source what the encoder read from it: `sources[0]` the step (each
    /// chunk's checksum), then its predecessors. Throws the first source's refusal.
    func confirm(against sources: [any StepSource]) throws {
        for chunk in chunks {
            try sources[0].confirm(tensor: chunk.tensorIndex, chunk: chunk.header.index, checksum: chunk.header.checksum)
            for (p, checksum) in chunk.predecessorChecksums.enumerated() {
                try sources[p + 1].confirm(tensor: chunk.tensorIndex, chunk: chunk.header.index, checksum: checksum)
            }
        }
    }

    /// Stores the chunks as chunks of raw step `step`; returns the bytes stored.
    func insert(step: Int, into w: any LogWriter) throws -> Int {
        for chunk in chunks {
            try chunk.payload.withUnsafeBytes { payload in
                try w.insertChunk(chunk.header, in: .step(step), tensorID: chunk.tensorID, payload: payload)
            }
        }
        return storedBytes
    }
}

/// Encodes a step's chunks on every core, outside the write transaction.
enum StepEncoder {
    /// Steps below this many bytes are encoded on the calling thread.
    static let serialBytes = 1 << 20

    /// Encodes every chunk of `runs` (bounds from `layout`); largest chunks first, handed out to
    /// one worker per core.
    static func encode(_ runs: [ChunkRun], layout: ChunkLayout) -> EncodedStep {
        var jobs: [EncodingJobs.Job] = []
        for (r, run) in runs.enumerated() {
            for index in run.chunks {
                jobs.append(EncodingJobs.Job(run: r, index: index, range: layout.range(index, of: run.bytes.count)))
            }
        }
        let work = EncodingJobs(runs: runs, jobs: jobs)
        // A small step is encoded on this thread: waking a worker per core costs more than its
        // chunks (a 150 KB step of a small model spent most of its time in thread switches).
        let bytes = jobs.reduce(0) { $0 + $1.range.count }
        let workers = bytes < serialBytes ? 1 : max(1, min(Cores.count, jobs.count))
        if workers == 1 { work.encodeUntilDone() } else {
            DispatchQueue.concurrentPerform(iterations: workers) { _ in work.encodeUntilDone() }
        }
        return EncodedStep(chunks: work.results())
    }
}
