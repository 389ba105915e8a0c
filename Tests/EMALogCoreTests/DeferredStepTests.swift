import EMAKernel
@testable import EMALogCore
import EMALogFormats
import EMALogSQLite
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// Steps a retention policy leaves out are taken by every track and stored (raw = false) with the
/// next step stored whole: given again they are compared, a pin keeps them and the last N, their
/// metrics commit with their records, and an error stores what the tracks took.
@Suite struct DeferredStepTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("d.emalog") }

    static func step(_ step: Int, bump: Float = 0) -> [UInt8] {
        var b = SafetensorsBuilder(step: step)
        b.add("w", shape: [64], floats: (0..<64).map { Float($0) * 0.01 + Float(step) + bump })
        return StreamFeed.frame(b.bytes())
    }

    func request(keepLast: Int = 0) throws -> IngestRequest {
        var request = IngestRequest(logPath: db, inputs: ["-"])
        request.tracks = [try EMASpec(parsing: "0.9")]
        request.keepStoredMetrics = true
        request.rawEvery = 100
        request.rawKeepLast = keepLast
        return request
    }

    func rawSteps() throws -> [Int] {
        let store = try SQLiteLogStore.openForReading(at: db)
        defer { try? store.close() }
        return try store.read { r in try r.rawStepNumbers(in: 0...Int.max) }
    }

    @Test func aDeferredStepGivenAgainIsSkippedWhenIdenticalAndRefusedWhenNot() throws {
        let report = try StreamFeed.ingest(request(), records: [Self.step(1), Self.step(2), Self.step(3), Self.step(3), Self.step(4)])
        #expect(report.stepsAdded == 4 && report.stepsSkipped == 1)
        let error = try #require(throws: IngestError.self) {
            try StreamFeed.ingest(request(), records: [Self.step(5), Self.step(6), Self.step(6, bump: 1)])
        }
        guard case .changedContent(_, 6, _) = error else { Issue.record("\(error)"); return }
        #expect(try EMALog(openingAt: db).info().lastStep == 6, "the steps the tracks took are stored")
    }

    @Test func aPinOfADeferredStepKeepsItAndTheLastN() throws {
        _ = try StreamFeed.ingest(request(keepLast: 3), records: (1...6).map { Self.step($0) } + [Array("P6 best\n".utf8)]
                                  + (7...8).map { Self.step($0) })
        // 4, 5, 6 were the last 3 when the pin stored them; 7 and 8 are the last at the end (the
        // retention pass leaves 4 and 5 in: it decides on stored steps when a snapshot is due).
        let raw = try rawSteps()
        #expect(raw.contains(6) && raw.contains(7) && raw.contains(8) && raw.contains(1) && !raw.contains(2), "\(raw)")
        #expect(try EMALog(openingAt: db).pins().map(\.name) == ["best"])
        #expect(try EMALog(openingAt: db).audit().findings.isEmpty)
    }

    @Test func metricsCommitWithTheirStepsAndAnErrorStoresWhatTheTracksTook() throws {
        var records: [[UInt8]] = []
        for step in 1...5 {
            records.append(StreamFeed.metrics("{\"step\": \(step), \"loss\": \(step)}"))
            records.append(Self.step(step))
        }
        records.append(Array("X".utf8))  // a bad record: the ingest stops there
        #expect(throws: IngestError.self) { try StreamFeed.ingest(request(), records: records) }
        let log = try EMALog(openingAt: db)
        #expect(try log.info().stepCount == 5)
        let losses = try log.metrics(keys: ["loss"]).rows.map(\.step)
        #expect(losses == [1, 2, 3, 4, 5])
        // Every track resumes at the last step: a second ingest goes on from there.
        _ = try StreamFeed.ingest(request(), records: [Self.step(6)])
        #expect(try log.info().lastStep == 6)
        #expect(try log.audit().findings.isEmpty)
    }

    /// A header whose offsets reach near Int.max is refused as bad input (it overflowed before).
    @Test(arguments: ["frame", "file"])
    func offsetsNearTheLargestIntegerAreRefused(_ via: String) throws {
        let header = "{\"w\":{\"dtype\":\"U8\",\"shape\":[9223372036854775804],\"data_offsets\":[0,9223372036854775804]},"
            + "\"__metadata__\":{\"step\":\"1\"}}"
        let bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) } + Array(header.utf8)
        #expect(throws: SafetensorsError.self) { try bytes.withUnsafeBytes { try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: $0[8...])) } }
        if via == "frame" {
            let error = try #require(throws: IngestError.self) { try StreamFeed.ingest(request(), records: [[UInt8(ascii: "S")] + bytes]) }
            guard case .badFile = error else { Issue.record("\(error)"); return }
        }
    }
}
