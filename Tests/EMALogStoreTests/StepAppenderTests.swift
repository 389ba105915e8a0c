import EMALogFormats
import EMALogStore
import EMALogTestSupport
import Foundation
import Testing

/// A step's tensors held in arrays (what a trainer could hand over without a file).
final class BufferStepSource: StepSource {
    let tensors: [[Float]]

    init(_ tensors: [[Float]]) { self.tensors = tensors }

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
}
