#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EMALogTestSupport
import Foundation
import Testing

/// `emalog ingest` at its input edges, through the binary: flag validation (64), inputs that are
/// not regular files (65, no hang), and a re-run that must be a no-op (0).
@Suite struct IngestInputTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("run.emalog") }

    @Test(arguments: ["inf", "nan", "0", "-1", "0.0001", "3601"])
    func pollIntervalOutsideItsRangeIsAUsageError(_ value: String) async throws {
        let r = try await CLI.run(["ingest", "--db", db, "--follow", "--poll-interval=\(value)", Fixtures.path("mlp-f32/steps")])
        #expect(r.status == 64, "\(r.stderr)")
        #expect(r.stderr.contains("--poll-interval must be a number of seconds from 0.001 to 3600"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test func aFIFOInAnInputFolderIs65NamingIt() async throws {
        let steps = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "steps")
        let fifo = steps + "/x.safetensors"
        #expect(mkfifo(fifo, 0o644) == 0)
        let r = try await CLI.run(["ingest", "--db", db, steps])
        #expect(r.status == 65)
        #expect(r.stderr.contains("\(fifo): is a FIFO, not a regular file"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test func negativeZeroMetricsIngestedTwiceAreANoOp() async throws {
        let metrics = dir.file("m.jsonl")
        try "{\"step\": 1, \"loss\": -0.0}\n{\"step\": 2, \"loss\": 0.0}\n".write(toFile: metrics, atomically: true, encoding: .utf8)
        let first = try await CLI.run(["ingest", "--db", db, metrics])
        #expect(first.status == 0, "\(first.stderr)")
        let before = try await LogDump.dump(db)
        let again = try await CLI.run(["ingest", "--db", db, metrics])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("0 metric values (2 already stored)"), "\(again.stderr)")
        #expect(try await LogDump.dump(db) == before)
    }
}
