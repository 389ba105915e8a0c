import EMALogFormats
import EMALogStore
import EMALogSQLite
import EMALogTestSupport
import Foundation
import GRDB
import Testing

@Suite struct ChunkTests {
    func makeLog(_ dir: TemporaryDirectory, chunkBytes: Int) throws -> (SQLiteLogStore, TensorRecord) {
        let store = try SQLiteLogStore.openForWriting(at: dir.file("a.emalog"), chunkBytes: chunkBytes)
        let tensor = try store.write { w in
            let ingest = try w.insertIngest(arguments: ["test"], configuration: "{}")
            let t = try w.insertTensors([TensorLayout(name: "w", dtype: .f32, shape: [25])])[0]
            try w.insertStep(StepRecord(step: 3, ingestID: ingest, sourcePath: "/x", sourceSize: 1, sourceHash: 7, metadata: ["step": "3"], ingestedAt: "now"))
            return t
        }
        return (store, tensor)
    }

    @Test(arguments: [8, 16, 40, 96, 64 << 20])  // a log's chunk size is a multiple of 8 (whole elements of every dtype)
    func bytesRoundTripThroughChunks(chunkBytes: Int) throws {
        let dir = TemporaryDirectory()
        let (store, tensor) = try makeLog(dir, chunkBytes: chunkBytes)
        let values = (0..<25).map { Float($0) * 0.5 }
        try store.write { w in try values.withUnsafeBytes { try w.insertPlainChunks(of: tensor, in: .step(3), bytes: $0) } }
        var back = [Float](repeating: 0, count: 25)
        try store.read { r in try back.withUnsafeMutableBytes { try r.readTensor(tensor, in: .step(3), into: $0) } }
        #expect(back == values)
        var chunks = 0
        _ = try store.read { r in try r.forEachChunk(of: tensor, in: .step(3)) { _, b in chunks += 1; #expect(b.count <= chunkBytes) } }
        #expect(chunks == (100 + chunkBytes - 1) / chunkBytes)
    }

    /// A log holding one 100-byte tensor in 40-byte chunks, damaged by `sql`, reopened for reading.
    func damagedLog(_ dir: TemporaryDirectory, _ sql: String) throws -> (SQLiteLogStore, TensorRecord) {
        let (store, tensor) = try makeLog(dir, chunkBytes: 40)
        let values = [Float](repeating: 1, count: 25)
        try store.write { w in try values.withUnsafeBytes { try w.insertPlainChunks(of: tensor, in: .step(3), bytes: $0) } }
        try store.close()
        let queue = try DatabaseQueue(path: dir.file("a.emalog"))
        try queue.write { db in try db.execute(sql: sql) }
        try queue.close()
        return (try SQLiteLogStore.openForReading(at: dir.file("a.emalog")), tensor)
    }

    @Test func aDamagedChunkFailsItsChecksum() throws {
        let dir = TemporaryDirectory()
        let (log, tensor) = try damagedLog(dir, "UPDATE chunks SET data = zeroblob(40) WHERE chunk_index = 1")
        #expect(throws: StoreError.checksumMismatch(what: "tensor 'w' at step 3, chunk 1")) {
            try log.read { r in try r.forEachChunk(of: tensor, in: .step(3)) { _, _ in } }
        }
    }

    @Test func aMissingChunkIsReported() throws {
        let dir = TemporaryDirectory()
        let (log, tensor) = try damagedLog(dir, "DELETE FROM chunks WHERE chunk_index = 2")
        #expect(throws: StoreError.inconsistent("tensor 'w' at step 3 holds 80 bytes, expected 100")) {
            try log.read { r in try r.forEachChunk(of: tensor, in: .step(3)) { _, _ in } }
        }
    }
}
