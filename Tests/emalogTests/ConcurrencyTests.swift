import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Readers run while an ingest writes: never "database is locked", always whole steps.
@Suite(.serialized) struct ConcurrencyTests {
    @Test func readersInALoopWhileAnIngestWrites() async throws {
        let dir = TemporaryDirectory()
        let steps = dir.file("steps")
        try SyntheticRun.write(steps: 1...120, parameters: 250_000, to: steps)
        let metrics = dir.file("metrics.jsonl")
        try (1...120).map { "{\"step\": \($0), \"loss\": \(1.0 / Double($0))}" }.joined(separator: "\n").write(toFile: metrics, atomically: true, encoding: .utf8)
        let db = dir.file("busy.emalog")
        // The writer: one ingest per step (as a trainer calling emalog after each save would), so
        // reads interleave with many commits and with every ingest's restore-from-snapshot.
        let files = (1...120).map { steps + String(format: "/step-%08d.safetensors", $0) }
        let writer = Thread {
            for file in files { _ = try? CLI.run(["ingest", "--db", db, "--ema", "0.99", "--snapshot-every", "7", file]) }
            _ = try? CLI.run(["ingest", "--db", db, metrics])
        }
        writer.start()
        var reads = 0, lastSteps = 0, sawSteps = Set<Int>()
        while writer.isExecuting || !writer.isFinished || reads < 8 {
            let info = try await CLI.run(["info", "--db", db, "--json"])
            #expect(!info.stderr.contains("locked"), "\(info.stderr)")
            if info.status == 0, case let .object(fields) = try JSONParser.parse(Array(info.stdout.utf8)),
               case let .number(n)? = fields.first(where: { $0.key == "steps" })?.value, let count = Int(n.text) {
                #expect(count >= lastSteps, "step count went backwards")
                lastSteps = count
                sawSteps.insert(count)
            } else {
                // Before the first commit the log may not exist yet or hold no steps.
                #expect([66, 65].contains(info.status) || info.stderr.contains("no steps"), "\(info.status) \(info.stderr)")
            }
            let out = dir.file("raw-\(reads).safetensors")
            let raw = try await CLI.run(["raw", "--db", db, "-o", out])
            #expect(!raw.stderr.contains("locked"), "\(raw.stderr)")
            if raw.status == 0 {
                let file = try LoadedSafetensors(path: out)  // a whole step: every tensor, right sizes
                #expect(file.tensors.count == 4)
                let step = Int(file.metadata["step"]!)!
                let expected = try LoadedSafetensors(path: steps + String(format: "/step-%08d.safetensors", step))
                #expect(file.tensors.mapValues(\.bytes) == expected.tensors.mapValues(\.bytes), "step \(step) read partially")
            }
            let shadow = try await CLI.run(["shadow", "--db", db, "-o", dir.file("s.safetensors")])
            #expect(!shadow.stderr.contains("locked"), "\(shadow.stderr)")
            let m = try await CLI.run(["metrics", "--db", db, "--key", "loss"])
            #expect(!m.stderr.contains("locked"))
            reads += 1
        }
        #expect(try await CLI.run(["info", "--db", db]).stdout.contains("steps        120 (1 ... 120)"))
        #expect(try await CLI.run(["audit", "--db", db]).status == 0)
        print("concurrent reads: \(reads) rounds, saw \(sawSteps.count) distinct step counts")
    }
}
