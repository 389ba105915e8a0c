import Dispatch
import EMALogFormats
import Foundation
import Synchronization

/// A tensor of a step (or a run of its chunks) to encode: its bytes and the same bytes at the
/// previous steps (newest first). `firstChunk` is the chunk index the bytes start at (a multiple
/// of the chunk size into the tensor).
public struct TensorBytes {
    public var tensor: TensorRecord
    public var bytes: UnsafeRawBufferPointer
    public var predecessors: [UnsafeRawBufferPointer]
    public var firstChunk: Int

    public init(tensor: TensorRecord, bytes: UnsafeRawBufferPointer, predecessors: [UnsafeRawBufferPointer], firstChunk: Int = 0) {
        self.tensor = tensor
        self.bytes = bytes
        self.predecessors = predecessors
        self.firstChunk = firstChunk
    }
}

/// A step's chunks, encoded and checksummed, ready to insert.
public struct EncodedStep {
    struct Chunk {
        var tensorID: Int64
        var index: Int
        var codec: Codec
        var rawSize: Int
        var checksum: UInt64
        var payload: [UInt8]
    }

    var chunks: [Chunk]

    /// Bytes the payloads take.
    public var storedBytes: Int { chunks.reduce(0) { $0 + $1.payload.count } }
}

/// Encodes a step's chunks on every core, outside the write transaction.
public enum StepEncoder {
    /// Encodes every chunk (at most `chunkBytes` each) of `tensors`; largest chunks first, handed
    /// out to one worker per core.
    public static func encode(_ tensors: [TensorBytes], chunkBytes: Int) -> EncodedStep {
        struct Job {
            var tensor: Int
            var index: Int
            var range: Range<Int>
        }
        var jobs: [Job] = []
        for (t, item) in tensors.enumerated() {
            let total = item.bytes.count
            if total == 0 { jobs.append(Job(tensor: t, index: item.firstChunk, range: 0..<0)); continue }
            for (index, start) in stride(from: 0, to: total, by: chunkBytes).enumerated() {
                jobs.append(Job(tensor: t, index: item.firstChunk + index, range: start..<min(start + chunkBytes, total)))
            }
        }
        let order = jobs.indices.sorted { jobs[$0].range.count > jobs[$1].range.count }
        let results = UnsafeMutableBufferPointer<EncodedStep.Chunk?>.allocate(capacity: jobs.count)
        results.initialize(repeating: nil)
        defer { results.deinitialize(); results.deallocate() }
        let next = Atomic<Int>(0)
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, jobs.count))
        // Each job index is written by exactly one worker; the inputs are only read.
        let total = jobs.reduce(0) { $0 + $1.range.count }
        let shared = UncheckedBox((tensors, jobs, order, results))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            let (tensors, jobs, order, results) = shared.value
            let coder = ChunkCoderPool.take()
            defer { ChunkCoderPool.give(coder) }
            while true {
                let k = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard k < order.count else { break }
                let job = jobs[order[k]]
                let item = tensors[job.tensor]
                coder.threads = segmentThreads(chunk: job.range.count, total: total)
                func slice(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
                    UnsafeRawBufferPointer(start: b.baseAddress.map { $0 + job.range.lowerBound }, count: job.range.count)
                }
                let chunk = slice(item.bytes)
                let (codec, payload) = coder.encode(chunk, dtype: item.tensor.dtype, predecessors: item.predecessors.map(slice))
                results[order[k]] = EncodedStep.Chunk(tensorID: item.tensor.id, index: job.index, codec: codec,
                                                      rawSize: job.range.count, checksum: XXH64.hash(chunk), payload: payload)
            }
        }
        return EncodedStep(chunks: results.map { $0! })
    }
}

/// Coders kept between steps, so their scratch buffers (several times a chunk) are not
/// allocated and faulted in again for every step.
public enum ChunkCoderPool {
    private static let idle = Mutex<[UncheckedBox<ChunkCoder>]>([])

    static func take() -> ChunkCoder { idle.withLock { $0.popLast()?.value } ?? ChunkCoder() }

    static func give(_ coder: ChunkCoder) { idle.withLock { $0.append(UncheckedBox(coder)) } }

    /// Frees the idle coders (at the end of an ingest).
    public static func drain() { idle.withLock { $0.removeAll() } }
}

/// Shares values with worker threads that only read them (or write disjoint slots).
public struct UncheckedBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

extension StoreWriter {
    /// Inserts a step's encoded chunks; returns the bytes stored.
    @discardableResult
    public func insert(_ encoded: EncodedStep, step: Int) throws -> Int {
        for chunk in encoded.chunks {
            try chunk.payload.withUnsafeBytes { payload in
                try insertChunk(.step(step), chunk.tensorID, chunk.index, chunk.codec, chunk.rawSize, chunk.checksum, payload)
            }
        }
        return encoded.storedBytes
    }
}
