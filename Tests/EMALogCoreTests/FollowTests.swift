import EMAKernel
import EMALogCore
import EMALogTestSupport
import Foundation
import Testing

/// `--follow`: files appear while training runs; half-written files are waited for; a stop commits
/// what is whole. (Serialized: the stop flag is process-wide.)
@Suite(.serialized) struct FollowTests {
    @Test func picksUpFilesAsTheyAppearAndStopsCleanly() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("f.emalog"), whole = dir.file("whole.emalog")
        let watched = dir.file("steps")
        try FileManager.default.createDirectory(atPath: watched, withIntermediateDirectories: true)
        let metrics = dir.file("metrics.jsonl")
        FileManager.default.createFile(atPath: metrics, contents: nil)
        let source = Fixtures.path("mlp-f32/steps")
        for n in 1...3 {
            try FileManager.default.copyItem(atPath: "\(source)/step-\(String(format: "%08d", n)).safetensors",
                                             toPath: "\(watched)/step-\(String(format: "%08d", n)).safetensors")
        }
        StopSignal.reset()
        var request = IngestRequest(logPath: db, inputs: [watched, metrics])
        request.tracks = [try EMASpec(parsing: "name=timm,decay=0.999,schedule=warmup,form=lerp")]
        request.follow = true
        request.pollInterval = 0.02
        let task = Task.detached { try Ingest.run(request) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: metrics))
        for n in 4...10 {
            let name = "step-\(String(format: "%08d", n)).safetensors"
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(source)/\(name)"))
            if n == 6 {
                // Written in place in two halves: must be waited for, never read half-way.
                try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: "\(watched)/\(name)"))
                try await Task.sleep(for: .milliseconds(150))
                try bytes.write(to: URL(fileURLWithPath: "\(watched)/\(name)"))
            } else {
                // The trainer's way: write *.tmp, then rename.
                try bytes.write(to: URL(fileURLWithPath: "\(watched)/\(name).tmp"))
                try await Task.sleep(for: .milliseconds(30))
                try FileManager.default.moveItem(atPath: "\(watched)/\(name).tmp", toPath: "\(watched)/\(name)")
            }
            handle.write(Data("{\"step\": \(n), \"loss\": \(Double(n) / 8)}\n{\"step\": \(n), \"lr\"".utf8))
            handle.write(Data(": 0.5}\n".utf8))
            try await Task.sleep(for: .milliseconds(30))
        }
        try await Task.sleep(for: .milliseconds(300))
        StopSignal.request()
        let report = try await task.value
        StopSignal.reset()
        #expect(report.interrupted)
        #expect(report.stepsAdded == 10)
        #expect(report.metricValues == 14)
        try Goldens.ingest(whole, (1...10).map { "\(source)/step-\(String(format: "%08d", $0)).safetensors" },
                           tracks: ["name=timm,decay=0.999,schedule=warmup,form=lerp"])
        let a = try Goldens.shadow(db, step: 10, .only, in: dir)
        let b = try Goldens.shadow(whole, step: 10, .only, in: dir)
        #expect(a.tensors.mapValues(\.bytes) == b.tensors.mapValues(\.bytes))
        #expect(try EMALog(openingAt: db).info().tracks[0].snapshotSteps.last == 10)
        #expect(try EMALog(openingAt: db).metrics(keys: ["loss"]).rows.count == 7)
    }

    @Test func aHalfWrittenFileAtStartIsWaitedForAndLaterStepsWaitBehindIt() async throws {
        let dir = TemporaryDirectory()
        let db = dir.file("f.emalog")
        let source = Fixtures.path("mlp-f32/steps")
        let watched = try dir.copySteps(from: source, to: "steps") { $0 <= "step-00000003.safetensors" }
        let four = try Data(contentsOf: URL(fileURLWithPath: source + "/step-00000004.safetensors"))
        try four.prefix(100).write(to: URL(fileURLWithPath: watched + "/step-00000004.safetensors"))
        try FileManager.default.copyItem(atPath: source + "/step-00000005.safetensors", toPath: watched + "/step-00000005.safetensors")
        StopSignal.reset()
        var request = IngestRequest(logPath: db, inputs: [watched])
        request.tracks = [try EMASpec(parsing: "0.9")]
        request.follow = true
        request.pollInterval = 0.02
        let task = Task.detached { try Ingest.run(request) }
        try await Task.sleep(for: .milliseconds(300))
        try four.write(to: URL(fileURLWithPath: watched + "/step-00000004.safetensors"))
        try await Task.sleep(for: .milliseconds(300))
        StopSignal.request()
        let report = try await task.value
        StopSignal.reset()
        #expect(report.stepsAdded == 5)
        let got = try Goldens.shadow(db, step: 5, .only, in: dir)
        let whole = dir.file("whole.emalog")
        try Goldens.ingest(whole, (1...5).map { "\(source)/step-\(String(format: "%08d", $0)).safetensors" }, tracks: ["0.9"])
        #expect(got.tensors.mapValues(\.bytes) == (try Goldens.shadow(whole, step: 5, .only, in: dir)).tensors.mapValues(\.bytes))
    }
}
