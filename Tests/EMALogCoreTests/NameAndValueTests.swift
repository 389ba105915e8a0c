import EMALogCore
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Names and values that would not survive the round trip through SQLite: a NUL inside a tensor
/// name or metric key is refused (65, naming file, tensor or line); -0.0 is the same metric value
/// as 0.0, so the same ingest run again is a no-op.
@Suite struct NameAndValueTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("n.emalog") }

    @Test func aNULInATensorNameIsRefusedAndANewLogIsNotCreated() throws {
        var b = SafetensorsBuilder(step: 1)
        b.add("a", shape: [2], floats: [1, 2])
        b.add("a\u{0}b", shape: [2], floats: [3, 4])
        let path = dir.file("step-1.safetensors")
        try b.write(to: path)
        let error = try #require(throws: IngestError.self) { try Goldens.ingest(db, [path]) }
        #expect(error == .nulInName(path: path, line: nil, name: "a\u{0}b"))
        #expect("\(error)" == "\(path): tensor \"a\\u0000b\" contains a NUL character (\\u0000); names must not contain "
            + "NUL (SQLite and C tools cut them there): rename it in the training script (nothing of this file was stored)")
        #expect(!FileManager.default.fileExists(atPath: db))
    }

    @Test func aNULInATensorNameOfALaterStepLeavesTheLogUnchanged() throws {
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/steps/step-00000001.safetensors")], tracks: ["0.9"])
        var b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000002.safetensors"))
        b.tensors[b.index(of: "fc2.bias")].name = "fc2.bias\u{0}old"
        let path = dir.file("step-00000002.safetensors")
        try b.write(to: path)
        let before = try LogDump.dump(db)
        #expect(throws: IngestError.nulInName(path: path, line: nil, name: "fc2.bias\u{0}old")) { try Goldens.ingest(db, [path]) }
        #expect(try LogDump.dump(db) == before)
    }

    @Test func aNULInAMetricKeyIsRefusedWithItsLine() throws {
        try Goldens.ingest(db, [Fixtures.path("mlp-f32/metrics.jsonl")])
        let path = dir.file("m.jsonl")
        try "{\"step\": 30, \"a\": 1}\n{\"step\": 31, \"eval\": {\"a\\u0000b\": 2}}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let before = try LogDump.dump(db)
        let error = try #require(throws: IngestError.self) { try Goldens.ingest(db, [path]) }
        #expect(error == .nulInName(path: path, line: 2, name: "eval/a\u{0}b"))
        #expect("\(error)".hasPrefix("\(path):2: metric key \"eval/a\\u0000b\" contains a NUL character"))
        #expect(try LogDump.dump(db) == before)
    }

    @Test func negativeZeroMetricsReingestedAreANoOp() throws {
        let path = dir.file("z.jsonl")
        try "{\"step\": 1, \"m\": -0.0, \"n\": 0.0}\n{\"step\": 2, \"m\": -0, \"n\": -0.0e5}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let first = try Goldens.ingest(db, [path])
        #expect(first.metricValues == 4)
        let before = try LogDump.dump(db)
        let again = try Goldens.ingest(db, [path])
        #expect(again.metricValues == 0 && again.metricValuesUnchanged == 4)
        let replaced = try Goldens.ingest(db, [path], replace: true)
        #expect(replaced.metricValues == 0 && replaced.metricValuesUnchanged == 4)
        #expect(try LogDump.dump(db) == before)
        // Zero against a non-zero value is still a conflict.
        let other = dir.file("o.jsonl")
        try "{\"step\": 1, \"m\": 1e-300}\n".write(toFile: other, atomically: true, encoding: .utf8)
        #expect(throws: IngestError.self) { try Goldens.ingest(db, [other]) }
        #expect(try LogDump.dump(db) == before)
    }
}
