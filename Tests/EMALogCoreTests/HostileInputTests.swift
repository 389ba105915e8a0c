import EMALogCore
import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// A corpus of hostile step files: each is refused with its exact error (exit 65) and the log keeps
/// exactly the rows and bytes it had.
@Suite struct HostileInputTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("h.emalog") }
    let valid: [UInt8]
    let header: String
    let data: [UInt8]

    init() throws {
        let first = try dir.copySteps(from: Fixtures.path("mlp-f32/steps"), to: "first") { $0 <= "step-00000010.safetensors" }
        try Goldens.ingest(dir.file("h.emalog"), [first, Fixtures.path("mlp-f32/metrics.jsonl")], tracks: ["0.9"])
        let b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000011.safetensors"))
        valid = b.bytes()
        header = b.headerJSON()
        data = b.tensors.flatMap(\.bytes)
    }

    /// Writes `bytes` as step-00000011.safetensors and expects `expected` with the log unchanged.
    func refuse(_ bytes: [UInt8], _ expected: SafetensorsError, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let path = dir.file("step-00000011.safetensors")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let before = try LogDump.dump(db)
        let error = try #require(throws: IngestError.self, sourceLocation: sourceLocation) { try Goldens.ingest(db, [path]) }
        #expect(error == .badFile(path: path, expected), sourceLocation: sourceLocation)
        #expect("\(error)".hasPrefix(path + ": "), sourceLocation: sourceLocation)
        #expect(try LogDump.dump(db) == before, "the log changed", sourceLocation: sourceLocation)
    }

    func edited(_ replace: String, with replacement: String) -> [UInt8] {
        precondition(header.contains(replace), "template lacks \(replace)")
        return SafetensorsBuilder.file(header: header.replacingOccurrences(of: replace, with: replacement), data: data)
    }

    @Test func everyTruncatedPrefixIsRefused() throws {
        let path = dir.file("step-00000011.safetensors")
        let before = try LogDump.dump(db)
        for length in 0..<valid.count {
            try Data(valid.prefix(length)).write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: IngestError.self) { try Goldens.ingest(db, [path]) }
            guard case .badFile(path, .truncated) = error else { Issue.record("prefix \(length): \(error)"); continue }
        }
        #expect(try LogDump.dump(db) == before)
    }

    @Test func headerLengthAbsurdOrPastTheEnd() throws {
        var absurd = valid
        absurd.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(1) << 62) { Array($0) })
        try refuse(absurd, .headerTooLarge(length: 1 << 62, limit: Safetensors.maxHeaderLength))
        var past = valid
        past.replaceSubrange(0..<8, with: withUnsafeBytes(of: UInt64(valid.count)) { Array($0) })
        try refuse(past, .truncated(offset: valid.count, needed: 8))
    }

    @Test func headerNotUTF8OrNotJSON() throws {
        var bad = valid
        bad[9] = 0xFF
        try refuse(bad, .headerNotUTF8)
        let notJSON = SafetensorsBuilder.file(header: "{" + String(header.dropFirst(2)), data: data)
        try refuse(notJSON, .headerNotJSON(JSONError(offset: 1, reason: "expected a string key")))
        try refuse(SafetensorsBuilder.file(header: "\"just a string\"", data: []), .headerNotObject)
    }

    @Test func layoutRulesAreEnforced() throws {
        try refuse(edited("\"fc2.bias\":", with: "\"fc1.bias\":"), .duplicateTensor(name: "fc1.bias"))
        try refuse(edited("\"dtype\":\"I64\"", with: "\"dtype\":\"Q4\""), .unknownDType(tensor: "bn.num_batches_tracked", dtype: "Q4"))
        try refuse(edited("\"shape\":[3,8]", with: "\"shape\":[-3,8]"), .invalidShape(tensor: "fc2.weight", reason: "dimension -3 is negative"))
        try refuse(edited("\"shape\":[3,8]", with: "\"shape\":[3,8,4294967296,4294967296]"),
                   .invalidShape(tensor: "fc2.weight", reason: "element count overflows"))
        try refuse(edited("\"shape\":[3,8]", with: "\"shape\":[3,9]"), .byteCountMismatch(tensor: "fc2.weight", expected: 108, actual: 96))
    }

    @Test func offsetsOverlappingOutOfRangeOrNonContiguous() throws {
        let b = try SafetensorsBuilder(copying: Fixtures.path("mlp-f32/steps/step-00000011.safetensors"))
        let last = b.tensors.last!
        let total = data.count
        let lastStart = total - last.bytes.count
        // Move the last tensor one element forward: a gap before it and past the end of the buffer.
        let moved = edited("[\(lastStart),\(total)]", with: "[\(lastStart + 4),\(total + 4)]")
        try refuse(moved, .nonContiguousData(tensor: last.name, expectedStart: lastStart, actualStart: lastStart + 4))
        // Overlap: the last tensor starts inside the one before it.
        let overlapping = edited("[\(lastStart),\(total)]", with: "[\(lastStart - 4),\(total - 4)]")
        let previous = b.tensors[b.tensors.count - 2].name
        try refuse(overlapping, .overlappingData(tensor: last.name, previous: previous))
        // Out of range: declared data longer than the file.
        try refuse(Array(valid.dropLast(4)), .truncated(offset: valid.count - 4, needed: 4))
        try refuse(valid + [0, 0, 0, 0], .trailingBytes(count: 4))
    }

    @Test func metadataStepMustBeAnInteger() throws {
        try refuse(edited("\"step\":\"11\"", with: "\"step\":\"eleven\""), .invalidStepMetadata(value: "eleven"))
        try refuse(edited("\"step\":\"11\"", with: "\"step\":\"11.0\""), .invalidStepMetadata(value: "11.0"))
        try refuse(edited("\"step\":\"11\"", with: "\"step\":11"), .invalidMetadata(reason: "key 'step' is a number"))
    }

    @Test func nonNumericMetricsAreSkippedWithOneWarningPerKey() throws {
        final class Warnings: ProgressObserver, @unchecked Sendable {
            var messages: [String] = []  // touched only by the ingest's thread
            func progress(_ label: String, done: Int, total: Int) {}
            func warning(_ message: String) { messages.append(message) }
        }
        let path = dir.file("odd.jsonl")
        try """
            {"step": 11, "note": "a", "ok": 1, "flag": true, "v": NaN}
            {"step": 12, "note": "b", "ok": 2, "flag": false, "bad": null, "list": [1], "v": -Infinity}
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let warnings = Warnings()
        let report = try Ingest.run(IngestRequest(logPath: db, inputs: [path]), observer: warnings)
        #expect(report.metricValues == 4)
        #expect(warnings.messages.count == 4)  // note, flag, bad, list: once each
        #expect(warnings.messages.allSatisfy { $0.hasPrefix(path + ": key '") && $0.contains("skipped") })
        let table = try EMALog(openingAt: db).metrics(keys: ["v"])
        #expect(table.rows[0].values[0]!.isNaN && table.rows[1].values[0] == -.infinity)
    }
}
