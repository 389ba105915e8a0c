import EMALogCore
import EMALogFormats
import EMALogStore
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Bad input is refused with an exact error, exit 65, and the log is left exactly as it was.
@Suite struct IngestRefusalTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("r.emalog") }
    var step11: String { Fixtures.path("mlp-f32/steps/step-00000011.safetensors") }

    init() throws {
        let first = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "first") { $0 <= "step-00000010.safetensors" && $0 != "step-00000005.safetensors" }
        try Goldens.ingest(db, [first, Fixtures.path("mlp-f32/metrics.jsonl")], tracks: ["0.9"])
    }

    func expectRefusal(_ inputs: [String], _ expected: IngestError, replace: Bool = false,
                       sourceLocation: SourceLocation = #_sourceLocation) throws {
        let before = try LogDump.dump(db)
        #expect(throws: expected, sourceLocation: sourceLocation) { try Goldens.ingest(db, inputs, replace: replace) }
        #expect(try LogDump.dump(db) == before, "the log changed", sourceLocation: sourceLocation)
    }

    func write(_ builder: SafetensorsBuilder, _ name: String) throws -> String {
        let path = dir.file(name)
        try builder.write(to: path)
        return path
    }

    @Test func anOlderNewStepIsRefused() throws {
        let path = Fixtures.path("mlp-f32/steps/step-00000005.safetensors")
        try expectRefusal([path], .olderStep(path: path, step: 5, latest: 10))
        #expect("\(IngestError.olderStep(path: path, step: 5, latest: 10))".contains("older than the log's latest step 10"))
    }

    @Test func changedContentIsRefusedUnlessReplace() throws {
        var b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000003.safetensors"))
        b.tensors[b.index(of: "fc2.bias")].bytes[0] ^= 1
        let path = try write(b, "step-00000003.safetensors")
        try expectRefusal([path], .changedContent(path: path, step: 3, detail: "tensor 'fc2.bias' has different values"))
    }

    @Test func identicalContentWithOtherMetadataIsANoOp() throws {
        var b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000003.safetensors"))
        b.metadata["note"] = "saved again"
        let path = try write(b, "again-3.safetensors")
        let before = try LogDump.dump(db)
        let report = try Goldens.ingest(db, [path, Fixtures.path("mlp-f32/metrics.jsonl")])
        #expect(report.stepsSkipped == 1 && report.stepsAdded == 0 && report.metricValues == 0)
        #expect(try LogDump.dump(db) == before)
    }

    @Test func tensorSetChangesAreRefused() throws {
        var missing = try SafetensorsBuilder(copying: step11)
        missing.tensors.remove(at: missing.index(of: "ln.bias"))
        let p1 = try write(missing, "m-11.safetensors")
        try expectRefusal([p1], .tensorSetChanged(path: p1, step: 11, detail: "tensor 'ln.bias' of the log is missing from this file"))

        var extra = try SafetensorsBuilder(copying: step11)
        extra.add("new.weight", shape: [1], floats: [1])
        let p2 = try write(extra, "e-11.safetensors")
        try expectRefusal([p2], .tensorSetChanged(path: p2, step: 11, detail: "tensor 'new.weight' is not in the log's earlier steps"))

        var dtype = try SafetensorsBuilder(copying: step11)
        let i = dtype.index(of: "fc2.bias")
        dtype.tensors[i].dtype = .i32
        let p3 = try write(dtype, "d-11.safetensors")
        try expectRefusal([p3], .tensorSetChanged(path: p3, step: 11, detail: "tensor 'fc2.bias' has dtype I32, the log's steps have F32"))

        var shape = try SafetensorsBuilder(copying: step11)
        shape.tensors[shape.index(of: "fc1.weight")].shape = [6, 8]
        let p4 = try write(shape, "s-11.safetensors")
        try expectRefusal([p4], .tensorSetChanged(path: p4, step: 11, detail: "tensor 'fc1.weight' has shape [6, 8], the log's steps have [8, 6]"))
    }

    @Test func nonFiniteWeightsAreRefusedUnlessAllowed() throws {
        var b = try SafetensorsBuilder(copying: step11)
        let i = b.index(of: "fc1.weight")
        b.tensors[i].bytes.replaceSubrange(4 * 17..<4 * 18, with: withUnsafeBytes(of: Float.nan) { Array($0) })
        let path = try write(b, "step-00000011.safetensors")
        try expectRefusal([path], .nonFinite(path: path, step: 11, tensor: "fc1.weight", index: 17, value: "NaN"))
        let report = try Goldens.ingest(db, [path], allowNonFinite: true)
        #expect(report.stepsAdded == 1)
    }

    @Test func twoFilesForOneStepAreRefused() throws {
        let copy = dir.file("copy-of-11.safetensors")
        try FileManager.default.copyItem(atPath: step11, toPath: copy)
        let sorted = [copy, step11].sorted()
        try expectRefusal([step11, copy], .duplicateStep(step: 11, first: sorted[0], second: sorted[1]))
    }

    @Test func aTruncatedFileNamesItselfAndKeepsEarlierSteps() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("mlp-f32/steps/step-00000012.safetensors")))
        let path = dir.file("step-00000012.safetensors")
        try full.prefix(full.count - 100).write(to: URL(fileURLWithPath: path))
        let before = try LogDump.dump(db)
        #expect(throws: IngestError.badFile(path: path, .truncated(offset: full.count - 100, needed: 100))) {
            try Goldens.ingest(db, [step11, path])
        }
        #expect(try LogDump.dump(db) != before)  // step 11 came first and stays committed
        #expect(try EMALog(openingAt: db).info().lastStep == 11)
        try full.write(to: URL(fileURLWithPath: path))
        #expect(try Goldens.ingest(db, [step11, path]).stepsAdded == 1)  // fixed: the same command resumes
    }

    @Test func badMetricsLinesNameFileAndLine() throws {
        let path = dir.file("bad.jsonl")
        try "{\"step\": 1, \"x\": 1}\n\n{\"step\": 2, \"x\": }\n".write(toFile: path, atomically: true, encoding: .utf8)
        let error = try #require(throws: IngestError.self) { try Goldens.ingest(db, [path]) }
        guard case let .badMetricsLine(p, line, _) = error else { Issue.record("\(error)"); return }
        #expect(p == path && line == 3)
        #expect("\(error)".hasPrefix("\(path):3: not valid JSON"))
        let notObject = dir.file("arr.jsonl")
        try "[1]\n".write(toFile: notObject, atomically: true, encoding: .utf8)
        try expectRefusal([notObject], .badMetricsLine(path: notObject, line: 1, .notAnObject(kind: "an array")))
        let noStep = dir.file("nostep.jsonl")
        try "{\"loss\": 1}\n".write(toFile: noStep, atomically: true, encoding: .utf8)
        try expectRefusal([noStep], .badMetricsLine(path: noStep, line: 1, .missingStep))
    }

    @Test func aDifferentMetricValueIsRefusedUnlessReplace() throws {
        let path = dir.file("late.jsonl")
        try "{\"step\": 2, \"eval\": {\"top1\": 0.5}}\n{\"step\": 3, \"loss\": 99.0}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let stored = try EMALog(openingAt: db).metrics(keys: ["loss"], from: 3, to: 3).rows[0].values[0]!
        try expectRefusal([path], .metricConflict(path: path, MetricConflict(step: 3, key: "loss", stored: stored, new: 99)))
        let report = try Goldens.ingest(db, [path], replace: true)
        #expect(report.metricValues == 2)
        #expect(try EMALog(openingAt: db).metrics(keys: ["loss"], from: 3, to: 3).rows[0].values[0] == 99)
    }

    @Test func missingInputsAreNotFound() throws {
        try expectRefusal([dir.file("nope.safetensors")], .inputNotFound(path: dir.file("nope.safetensors")))
    }
}
