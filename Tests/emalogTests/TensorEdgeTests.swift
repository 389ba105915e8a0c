import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Tensors and steps at the edges of their ranges, and readers where the log's folder is not
/// theirs: correct output or a clear refusal, never a crash, and no files left beside the log.
@Suite struct TensorEdgeTests {
    let dir = TemporaryDirectory()

    /// Three steps with zero-element tensors of every kind beside a normal one.
    func writeEmptyTensorRun() throws -> String {
        let folder = dir.file("steps")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for step in 1...3 {
            var b = SafetensorsBuilder(step: step)
            b.add("empty", shape: [0, 3], floats: [])
            b.add("w", shape: [2], floats: [Float(step), Float(step) + 0.5])
            b.add("e16", dtype: .bf16, shape: [0], bytes: [])
            b.add("i", dtype: .i64, shape: [4, 0], bytes: [])
            try b.write(to: (folder as NSString).appendingPathComponent("step-\(step).safetensors"))
        }
        return folder
    }

    @Test func zeroElementTensorsRoundTripThroughEveryOutput() async throws {
        let db = dir.file("empty.emalog")
        let steps = try writeEmptyTensorRun()
        #expect(try await CLI.run(["ingest", "--db", db, "--ema", "0.5", steps]).status == 0)
        for args in [["shadow", "-o", dir.file("s.safetensors")], ["shadow", "--decay", "0.25", "--dtype", "param", "-o", dir.file("p.safetensors")],
                     ["shadow", "-o", dir.file("s.npz")], ["shadow", "-o", dir.file("s.json")], ["raw", "-o", dir.file("r.safetensors")],
                     ["sweep", "--decays", "0.5,0.9", "-o", dir.file("sweep")], ["audit"]] {
            let r = try await CLI.run([args[0], "--db", db] + args.dropFirst())
            #expect(r.status == 0, "\(args): \(r.status) \(r.stderr)")
        }
        let shadow = try LoadedSafetensors(path: dir.file("s.safetensors"))
        #expect(shadow.order == ["empty", "w", "e16", "i"])
        #expect(shadow.tensors["empty"]!.shape == [0, 3] && shadow.tensors["empty"]!.bytes.isEmpty)
        #expect(shadow.tensors["e16"]!.dtype == .f32 && shadow.tensors["i"]!.shape == [4, 0])
        // 0.5 * 3 + 0.5 * (0.5 * 2 + 0.5 * 1) = 2.25
        #expect(shadow.tensors["w"]!.bytes == [Float(2.25), Float(2.75)].withUnsafeBytes { Array($0) })
        let param = try LoadedSafetensors(path: dir.file("p.safetensors"))
        #expect(param.tensors["e16"]!.dtype == .bf16 && param.tensors["e16"]!.bytes.isEmpty)
        let raw = try LoadedSafetensors(path: dir.file("r.safetensors"))
        #expect(raw.tensors["i"]!.dtype == .i64 && raw.tensors["i"]!.shape == [4, 0])
        let json = try String(contentsOfFile: dir.file("s.json"), encoding: .utf8)
        #expect(json.contains("\"empty\":{\"dtype\":\"F32\",\"shape\":[0,3],\"values\":[]}"))
    }

    @Test func stepsAboveTheLargestAreRefusedAtIngest() async throws {
        let db = dir.file("big.emalog")
        var ok = SafetensorsBuilder(step: 7)
        ok.add("w", shape: [1], floats: [1])
        try ok.write(to: dir.file("step-7.safetensors"))
        #expect(try await CLI.run(["ingest", "--db", db, "--ema", "0.9", dir.file("step-7.safetensors")]).status == 0)
        let before = try await LogDump.dump(db)
        var huge = SafetensorsBuilder()
        huge.metadata = ["step": String(Int.max)]
        huge.add("w", shape: [1], floats: [2])
        try huge.write(to: dir.file("huge-meta.safetensors"))
        var r = try await CLI.run(["ingest", "--db", db, dir.file("huge-meta.safetensors")])
        #expect(r.status == 65 && r.stderr.contains("the step number 9223372036854775807 in __metadata__ is too large"), "\(r.stderr)")
        #expect(r.stderr.contains("from 0 to 9007199254740991"))
        var named = SafetensorsBuilder()
        named.add("w", shape: [1], floats: [2])
        let long = dir.file("step-123456789012345678901234.safetensors")
        try named.write(to: long)
        r = try await CLI.run(["ingest", "--db", db, long])
        #expect(r.status == 65 && r.stderr.contains("the step number 123456789012345678901234 in the name"), "\(r.stderr)")
        // The largest step itself is accepted, and a tracked shadow there works (no overflow).
        var largest = SafetensorsBuilder(step: StepNumber.largest)
        largest.add("w", shape: [1], floats: [3])
        try largest.write(to: dir.file("largest.safetensors"))
        let metrics = dir.file("m.jsonl")
        try Data("{\"step\": 9007199254740992, \"loss\": 1}\n".utf8).write(to: URL(fileURLWithPath: metrics))
        r = try await CLI.run(["ingest", "--db", db, metrics])
        #expect(r.status == 65 && r.stderr.contains("not an integer from 0 to 9007199254740991"), "\(r.stderr)")
        #expect(try await LogDump.dump(db) == before, "a refused ingest changed the log")
        #expect(try await CLI.run(["ingest", "--db", db, dir.file("largest.safetensors")]).status == 0)
        r = try await CLI.run(["shadow", "--db", db, "-o", dir.file("s.safetensors")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try LoadedSafetensors(path: dir.file("s.safetensors")).metadata["step"] == "9007199254740991")
    }

    /// `sqlite3` leaves nothing beside a log it only read; emalog's readers must not either.
    @Test func readersLeaveNoWALOrSharedMemoryBehind() async throws {
        let db = dir.file("tidy.emalog")
        #expect(try await CLI.run(["ingest", "--db", db, "--ema", "0.9", Fixtures.path("mlp-f32/steps")]).status == 0)
        for args in [["info"], ["audit"], ["metrics"], ["raw", "-o", dir.file("r.safetensors")], ["shadow", "-o", dir.file("s.safetensors")]] {
            let r = try await CLI.run([args[0], "--db", db] + args.dropFirst())
            #expect(r.status == 0, "\(args): \(r.stderr)")
            for suffix in ["-wal", "-shm"] {
                #expect(!FileManager.default.fileExists(atPath: db + suffix), "\(args) left \(suffix)")
            }
        }
    }

    /// As another user (root runs `setpriv`), a log in a folder that user cannot write is read.
    @Test(.enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
                   "needs root and setpriv to act as another user"))
    func readersWorkInAFolderTheyCannotWrite() async throws {
        let folder = dir.file("theirs")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let db = (folder as NSString).appendingPathComponent("run.emalog")
        #expect(try await CLI.run(["ingest", "--db", db, "--ema", "0.9", Fixtures.path("mlp-f32/steps"), Fixtures.path("mlp-f32/metrics.jsonl")]).status == 0)
        let out = dir.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        chmod(dir.path, 0o755)
        chmod(folder, 0o755)
        chmod(db, 0o644)
        chmod(out, 0o777)
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        for args in [["info"], ["audit"], ["metrics", "--key", "loss"], ["raw", "-o", out + "/r.safetensors"],
                     ["shadow", "--step", "7", "-o", out + "/s.safetensors"], ["sweep", "--decays", "0.5", "-o", out + "/sw"]] {
            let r = try await CLI.run(program: "/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", CLI.binary,
                                                               args[0], "--db", db] + args.dropFirst())
            #expect(r.status == 0, "\(args): \(r.status) \(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == ["run.emalog"])
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before)
    }
}
