import EMALogFormats
import EMALogStore
import EMALogSQLite
import EMALogTestSupport
import Foundation
import Testing

/// A step's tensors held in arrays (what a trainer could hand over without a file). What they
/// held when it was made is what `confirm` expects; `tensors` may change after, as a buffer of a
/// defective source would.
final class BufferStepSource: StepSource {
    var tensors: [[Float]]
    private let firstRead: [[Float]]
    private let layout: ChunkLayout

    init(_ tensors: [[Float]], chunkBytes: Int = 128) {
        self.tensors = tensors
        firstRead = tensors
        layout = ChunkLayout(chunkBytes: chunkBytes)
    }

    func withBytes<R>(of records: [TensorRecord], _ body: ([UnsafeRawBufferPointer]) throws -> R) throws -> R {
        func nest(_ k: Int, _ gathered: [UnsafeRawBufferPointer]) throws -> R {
            guard k < tensors.count else { return try body(gathered) }
            return try tensors[k].withUnsafeBytes { try nest(k + 1, gathered + [$0]) }
        }
        return try nest(0, [])
    }

    func willRead(tensor index: Int, _ range: Range<Int>) {}
    func release(tensor index: Int, _ range: Range<Int>) {}
    func checkUnchanged() throws {}

    struct Changed: Error, Equatable { var tensor: Int, chunk: Int }

    func confirm(tensor index: Int, chunk: Int, checksum: UInt64) throws {
        let expected = firstRead[index].withUnsafeBytes { all in
            XXH64.hash(UnsafeRawBufferPointer(rebasing: all[layout.range(chunk, of: all.count)]))
        }
        if expected != checksum { throw Changed(tensor: index, chunk: chunk) }
    }
}

@Suite struct StepAppenderTests {
    struct Refused: Error {}

    let dir = TemporaryDirectory()

    func record(_ step: Int, ingest: Int64) -> StepRecord {
        StepRecord(step: step, ingestID: ingest, sourcePath: "/s\(step)", sourceSize: 1, sourceHash: 0, metadata: [:], ingestedAt: "now")
    }

    func values(_ step: Int) -> [[Float]] { [(0..<100).map { Float($0) * 0.01 + Float(step) * 1e-3 }] }

    /// A step stored in a transaction that then fails is no predecessor of the next step: the next
    /// one is a keyframe, and every stored step reads back.
    @Test(arguments: [false, true])
    func aRolledBackStepIsNoPredecessor(pipelinedAfter: Bool) throws {
        let store = try SQLiteLogStore.openForWriting(at: dir.file("a.emalog"), chunkBytes: 128)
        let appender = StepAppender(store: store, keyframeEvery: 8)
        let (ingest, tensors) = try appender.write { w in
            let ingest = try w.insertIngest(arguments: [], configuration: "{}")
            let tensors = try w.insertTensors([TensorLayout(name: "w", dtype: .f32, shape: [100])])
            _ = try appender.append(record(1, ingest: ingest), BufferStepSource(values(1)), tensors: tensors, in: w)
            return (ingest, tensors)
        }
        _ = try appender.write { w in try appender.append(record(2, ingest: ingest), BufferStepSource(values(2)), tensors: tensors, in: w) }
        #expect(throws: Refused.self) {
            try appender.write { w in
                _ = try appender.append(record(3, ingest: ingest), BufferStepSource(values(3)), tensors: tensors, in: w)
                throw Refused()  // e.g. a snapshot write that fails after the step's chunks
            }
        }
        if pipelinedAfter {
            try appender.appendPipelined(record(3, ingest: ingest), BufferStepSource(values(4)), tensors: tensors)
            _ = try appender.waitForPendingWrite()
        } else {
            _ = try appender.write { w in try appender.append(record(3, ingest: ingest), BufferStepSource(values(4)), tensors: tensors, in: w) }
        }
        try store.read { r in
            #expect(try r.stepNumbers() == [1, 2, 3])
            for (step, expected) in [(1, values(1)), (2, values(2)), (3, values(4))] {
                var back = [Float](repeating: 0, count: 100)
                try back.withUnsafeMutableBytes { try r.readTensor(tensors[0], in: .step(step), into: $0) }
                #expect(back == expected[0], "step \(step)")
            }
        }
    }

    /// Bytes that change after their first read (memory given back and read again as zeros) are
    /// caught before anything commits: in the step being stored, and in a predecessor the next
    /// step is predicted from. Nothing of the refused step is stored, in either write path.
    @Test(arguments: [false, true])
    func bytesChangedAfterTheFirstReadAreRefused(pipelined: Bool) throws {
        let store = try SQLiteLogStore.openForWriting(at: dir.file("c.emalog"), chunkBytes: 128)
        let appender = StepAppender(store: store, keyframeEvery: 8)
        let (ingest, tensors) = try appender.write { w in
            let ingest = try w.insertIngest(arguments: [], configuration: "{}")
            return (ingest, try w.insertTensors([TensorLayout(name: "w", dtype: .f32, shape: [100])]))
        }
        func append(_ step: Int, _ source: BufferStepSource) throws {
            if pipelined {
                try appender.appendPipelined(record(step, ingest: ingest), source, tensors: tensors)
                _ = try appender.waitForPendingWrite()
            } else {
                _ = try appender.write { w in try appender.append(record(step, ingest: ingest), source, tensors: tensors, in: w) }
            }
        }
        let first = BufferStepSource(values(1))
        try append(1, first)
        // Step 2's bytes are zeroed after their first read: chunk 1 (bytes 128..<256) is refused.
        let second = BufferStepSource(values(2))
        second.tensors[0].replaceSubrange(40..<100, with: repeatElement(0, count: 60))
        #expect(throws: BufferStepSource.Changed(tensor: 0, chunk: 1)) { try append(2, second) }
        // Step 2 (the next step's predecessor) loses its bytes: the residual against it is refused.
        let stored = BufferStepSource(values(2))
        try append(2, stored)
        stored.tensors[0] = [Float](repeating: 0, count: 100)
        let third = BufferStepSource(values(3))
        #expect(throws: BufferStepSource.Changed.self) { try append(3, third) }
        try store.read { r in
            #expect(try r.stepNumbers() == [1, 2])
            var back = [Float](repeating: 0, count: 100)
            try back.withUnsafeMutableBytes { try r.readTensor(tensors[0], in: .step(2), into: $0) }
            #expect(back == values(2)[0])
        }
    }
}
