import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `ingest --remove-ingested` deletes a step file only once the log holds its step: committed,
/// or found identical; a refused file, a metrics file and anything not ingested stay.
@Suite struct RemoveIngestedTests {
    let dir = TemporaryDirectory()

    func files(_ folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    }

    /// The raw step read back equals the file that was deleted (a copy kept aside).
    func expectStored(_ db: String, step: Int, equals original: String) async throws {
        let out = dir.file("raw-\(step)-\(UUID().uuidString).safetensors")
        let r = try await CLI.run(["raw", "--db", db, "--step", "\(step)", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let stored = try LoadedSafetensors(path: out).tensors.mapValues(\.bytes), source = try LoadedSafetensors(path: original).tensors.mapValues(\.bytes)
        #expect(stored == source,
                "step \(step)")
    }

    @Test func everyIngestedStepFileIsDeletedAndTheLogHoldsIt() async throws {
        let originals = dir.file("originals")
        try SyntheticRun.write(steps: 1...40, parameters: 3_000, to: originals)
        let steps = dir.file("steps")
        try FileManager.default.copyItem(atPath: originals, toPath: steps)
        let metrics = dir.file("metrics.jsonl")
        try "{\"step\": 1, \"loss\": 0.5}\n".write(toFile: metrics, atomically: true, encoding: .utf8)
        let db = dir.file("run.emalog")
        let r = try await CLI.run(["ingest", "--db", db, "--ema", "0.99", "--snapshot-every", "8", "--remove-ingested", steps, metrics])
        #expect(r.status == 0 && r.stderr.contains("removed 40 step files"), "\(r.stderr)")
        #expect(try files(steps).isEmpty)
        #expect(FileManager.default.fileExists(atPath: metrics), "a metrics file is never deleted")
        for step in [1, 2, 17, 40] {
            try await expectStored(db, step: step, equals: (originals as NSString).appendingPathComponent(String(format: "step-%08d.safetensors", step)))
        }
        #expect(try await CLI.run(["audit", "--db", db]).status == 0)
        // The same files again are identical: the log holds them, so they go too.
        try FileManager.default.removeItem(atPath: steps)
        try FileManager.default.copyItem(atPath: originals, toPath: steps)
        let again = try await CLI.run(["ingest", "--db", db, "--remove-ingested", steps])
        #expect(again.status == 0 && again.stderr.contains("skipped 40 identical") && again.stderr.contains("removed 40"), "\(again.stderr)")
        #expect(try files(steps).isEmpty)
    }

    @Test func aRefusedStepFileAndTheOnesAfterItStay() async throws {
        let steps = dir.file("steps")
        try SyntheticRun.write(steps: 1...10, parameters: 2_000, to: steps)
        // Step 6 holds a NaN: refused (65), so it and the steps after it are not ingested.
        let six = (steps as NSString).appendingPathComponent("step-00000006.safetensors")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: six)))
        let header = bytes[0..<8].reversed().reduce(0) { $0 << 8 | Int($1) }
        bytes.replaceSubrange((8 + header)..<(12 + header), with: withUnsafeBytes(of: Float.nan.bitPattern.littleEndian, Array.init))
        try Data(bytes).write(to: URL(fileURLWithPath: six))
        let db = dir.file("run.emalog")
        let r = try await CLI.run(["ingest", "--db", db, "--remove-ingested", steps])
        #expect(r.status == 65, "\(r.stderr)")
        #expect(try files(steps) == (6...10).map { String(format: "step-%08d.safetensors", $0) })
        let info = try await CLI.run(["info", "--db", db])
        #expect(info.stdout.contains("steps        5 (1 ... 5)"), "\(info.stdout)")
    }

    /// Killed at any moment, no file is gone whose step the log lacks.
    @Test func aKilledIngestHasDeletedOnlyCommittedSteps() async throws {
        let originals = dir.file("originals")
        try SyntheticRun.write(steps: 1...80, parameters: 40_000, to: originals)
        // Kills at fixed moments spread over the ingest (the same trials every run).
        let delays: [UInt32] = [40_000, 150_000, 280_000]
        var checked = 0
        defer { print("remove-ingested kill trials with files deleted: \(checked) of 3") }
        for trial in 0..<3 {
            let steps = dir.file("steps-\(trial)")
            try FileManager.default.copyItem(atPath: originals, toPath: steps)
            let db = dir.file("trial-\(trial).emalog")
            let running = try CLI.start(["ingest", "--db", db, "--ema", "0.99", "--remove-ingested", steps])
            try await Task.sleep(nanoseconds: UInt64(delays[trial]) * 1000)
            if running.isRunning { kill(running.pid, SIGKILL) }
            _ = await running.wait()
            let left = Set(try files(steps))
            let gone = (1...80).filter { !left.contains(String(format: "step-%08d.safetensors", $0)) }
            guard !gone.isEmpty else { continue }
            checked += 1
            let info = try await CLI.run(["info", "--db", db, "--json"])
            #expect(info.status == 0, "\(info.stderr)")
            let last = (try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [String: Any])?["last_step"] as? Int ?? 0
            #expect(gone.max()! <= last, "trial \(trial): step files up to \(gone.max()!) deleted, the log holds steps up to \(last)")
            try await expectStored(db, step: gone.max()!, equals: (originals as NSString).appendingPathComponent(String(format: "step-%08d.safetensors", gone.max()!)))
            // The same command again picks up where it stopped and deletes the rest.
            let resumed = try await CLI.run(["ingest", "--db", db, "--ema", "0.99", "--remove-ingested", steps])
            let rest = try files(steps)
            #expect(resumed.status == 0 && rest.isEmpty, "\(resumed.stderr)")
        }
    }
}
