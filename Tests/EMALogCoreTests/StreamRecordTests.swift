import EMAKernel
@testable import EMALogCore
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// `ingest -` record by record, in this process: metrics that come before a step commit in its
/// transaction, nothing read is dropped at a bad record, a duplicate metric value does not stop
/// a run, a stop ends the stream between records, and a step of no tensors is refused.
@Suite struct StreamRecordTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("s.emalog") }

    final class Warnings: ProgressObserver, @unchecked Sendable {
        private var stored: [String] = []  // guarded by `lock`
        private let lock = NSLock()
        func progress(_ label: String, done: Int, total: Int) {}
        func warning(_ message: String) { lock.withLock { stored.append(message) } }
        var messages: [String] { lock.withLock { stored } }
    }

    static func step(_ step: Int, values: [Float]? = nil) -> [UInt8] {
        var b = SafetensorsBuilder(step: step)
        b.add("w", shape: [4], floats: values ?? (0..<4).map { Float($0) + Float(step) })
        return StreamFeed.frame(b.bytes())
    }

    func request(tracks: [String] = ["0.9"]) throws -> IngestRequest {
        var request = IngestRequest(logPath: db, inputs: ["-"])
        request.tracks = try tracks.map { try EMASpec(parsing: $0) }
        request.keepStoredMetrics = true
        return request
    }

    func losses() throws -> [Int: Double] {
        let table = try EMALog(openingAt: db).metrics(keys: ["loss"])
        return Dictionary(uniqueKeysWithValues: table.rows.map { ($0.step, $0.values[0]!) })
    }

    @Test func metricsBeforeARefusedStepGoWithIt() throws {
        let error = try #require(throws: IngestError.self) {
            try StreamFeed.ingest(request(), records: [
                StreamFeed.metrics("{\"step\": 1, \"loss\": 1}"), Self.step(1),
                StreamFeed.metrics("{\"step\": 0, \"loss\": 7}"),  // a late value for another step
                StreamFeed.metrics("{\"step\": 2, \"loss\": 2}"), Self.step(2, values: [0, .nan, 0, 0]),
            ])
        }
        guard case .nonFinite(_, 2, "w", 1, "NaN") = error else { Issue.record("\(error)"); return }
        // Step 2 and its loss were one transaction: neither is stored; step 0's value is.
        #expect(try EMALog(openingAt: db).info().lastStep == 1)
        #expect(try losses() == [0: 7, 1: 1])
        // A stored step sent again with other content is refused with its metrics too.
        #expect(throws: IngestError.self) {
            try StreamFeed.ingest(request(), records: [StreamFeed.metrics("{\"step\": 1, \"loss\": 9, \"acc\": 1}"),
                                                       Self.step(1, values: [9, 9, 9, 9])])
        }
        #expect(try losses() == [0: 7, 1: 1])
        #expect(try EMALog(openingAt: db).metrics(keys: []).keys == ["loss"])
    }

    @Test func metricsReadBeforeABadRecordAreStored() throws {
        let error = try #require(throws: IngestError.self) {
            try StreamFeed.ingest(request(), records: [
                Self.step(1), StreamFeed.metrics("{\"step\": 1, \"loss\": 1}"), StreamFeed.metrics("{\"step\": 2, \"loss\": 2}"),
                Array("X".utf8),
            ])
        }
        #expect("\(error)".contains("record 4") && "\(error)".contains("the records before it are stored"))
        #expect(try losses() == [1: 1, 2: 2])
    }

    @Test func aDifferentMetricValueIsKeptOutWithAWarningAndTheRunGoesOn() throws {
        let warnings = Warnings()
        let report = try StreamFeed.ingest(request(), records: [
            StreamFeed.metrics("{\"step\": 1, \"loss\": 1}"), Self.step(1),
            StreamFeed.metrics("{\"step\": 1, \"loss\": 5}"), Self.step(2),
            Self.step(3), StreamFeed.metrics("{\"step\": 3, \"loss\": 3}"),
        ], observer: warnings)
        #expect(report.stepsAdded == 3 && report.metricValues == 2 && report.metricValuesKept == 1)
        #expect(warnings.messages == ["stdin: step 1 key 'loss' is stored as 1.0, given 5.0: the stored value is kept "
            + "(replace to overwrite)"])
        #expect(try losses() == [1: 1, 3: 3])
    }

    @Test func aStopEndsTheStreamBetweenRecords() throws {
        var request = try request()
        request.stop = StopToken()
        let stop = request.stop
        let watcher = Thread { [db] in
            // Once both steps are stored, ask the ingest to stop; its stream stays open.
            while (try? EMALog(openingAt: db).info().lastStep) != 2 { usleep(10_000) }
            stop.request()
        }
        watcher.start()
        let report = try StreamFeed.ingest(request, records: [Self.step(1), Self.step(2)], keepOpen: true)
        #expect(report.interrupted && report.stepsAdded == 2)
        #expect(try EMALog(openingAt: db).info().tracks[0].snapshotSteps.last == 2)
    }

    @Test func aStepOfNoTensorsIsRefusedAndLeavesNoLog() throws {
        let empty = StreamFeed.frame(SafetensorsBuilder(step: 1).bytes())
        let error = try #require(throws: IngestError.self) { try StreamFeed.ingest(request(), records: [empty]) }
        guard case .tensorSetChanged(_, 1, let detail) = error else { Issue.record("\(error)"); return }
        #expect(detail.hasPrefix("it holds no tensors"))
        #expect(!FileManager.default.fileExists(atPath: db))
        // The same log then takes real steps.
        #expect(try StreamFeed.ingest(request(), records: [Self.step(1), Self.step(2)]).stepsAdded == 2)
    }

    /// Tensor names are bytes: "é" written as e + U+0301 (NFD) is not the log's "é" (NFC), whatever
    /// Swift's String equality says; the step is refused, not merged.
    @Test func aNameInAnotherUnicodeNormalisationIsAnotherName() throws {
        func step(_ n: Int, name: String) -> [UInt8] {
            var b = SafetensorsBuilder(step: n)
            b.add(name, shape: [2], floats: [1, Float(n)])
            return StreamFeed.frame(b.bytes())
        }
        let nfc = "\u{E9}", nfd = "e\u{301}"
        #expect(nfc == nfd && Array(nfc.utf8) != Array(nfd.utf8))
        let error = try #require(throws: IngestError.self) {
            try StreamFeed.ingest(request(), records: [step(1, name: nfc), step(2, name: nfd)])
        }
        guard case .tensorSetChanged(_, 2, let detail) = error else { Issue.record("\(error)"); return }
        #expect(detail.contains("another Unicode normalisation"))
        #expect(try EMALog(openingAt: db).info().lastStep == 1)
    }

    /// An F record naming a path no file can have (a name past the file system's 255 bytes) is bad
    /// input, not an I/O failure.
    @Test func anImpossiblePathIsBadInput() throws {
        let path = dir.file(String(repeating: "x", count: 300) + ".safetensors")
        let error = try #require(throws: IngestError.self) {
            try StreamFeed.ingest(request(), records: [Array("F\(path)\n".utf8)])
        }
        guard case .notRegularFile(path, let kind) = error else { Issue.record("\(error)"); return }
        #expect(kind.hasPrefix("a path no file can have"))
    }
}
