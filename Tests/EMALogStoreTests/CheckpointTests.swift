import EMALogFormats
import EMALogStore
import EMALogSQLite
import EMALogTestSupport
import Foundation
import Testing

/// The checkpointer copies the WAL into the log file beside the writer (whose commits only append).
@Suite struct CheckpointTests {
    /// 400 commits of 256 KiB of noise (100 MiB) under a 1 MiB bound: the WAL restarts instead of
    /// holding everything (SQLite's own checkpoint is off), and after the close it is gone with
    /// every byte in the file. (Commits within one copy interval may pass the bound: 48 MiB allows
    /// for a fast machine.)
    @Test func theWalStaysBoundedAndIsGoneAfterTheClose() throws {
        let dir = TemporaryDirectory()
        let path = dir.file("a.emalog")
        let store = try SQLiteLogStore.openForWriting(at: path, walBoundBytes: 1 << 20)
        let count = 65_536, steps = 400
        let tensor = try store.write { w in
            _ = try w.insertIngest(arguments: ["test"], configuration: "{}")
            return try w.insertTensors([TensorLayout(name: "w", dtype: .u8, shape: [4 * count])])[0]
        }
        func noise(_ step: Int) -> [UInt8] {
            var state = UInt64(step) &* 0x9E37_79B9_7F4A_7C15
            var words = [UInt64](repeating: 0, count: count / 2)
            for i in words.indices {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                words[i] = state ^ (state >> 29)
            }
            return words.withUnsafeBytes { Array($0) }
        }
        var largestWal = 0
        for step in 1...steps {
            let bytes = noise(step)
            try store.write { w in
                try w.insertStep(StepRecord(step: step, ingestID: 1, sourcePath: "/x", sourceSize: 1, sourceHash: UInt64(step),
                                            metadata: [:], ingestedAt: "now"))
                try bytes.withUnsafeBytes { try w.insertPlainChunks(of: tensor, in: .step(step), bytes: $0) }
            }
            let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
            largestWal = max(largestWal, wal)
        }
        try store.close()
        #expect(largestWal < 48 << 20, "the WAL grew to \(largestWal) bytes")
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let reader = try SQLiteLogStore.openForReading(at: path)
        for step in [1, 77, steps] {
            var back = [UInt8](repeating: 0, count: 4 * count)
            try reader.read { r in try back.withUnsafeMutableBytes { try r.readTensor(tensor, in: .step(step), into: $0) } }
            #expect(back == noise(step), "step \(step)")
        }
    }
}
