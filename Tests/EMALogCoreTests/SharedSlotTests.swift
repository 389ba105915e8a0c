import EMAKernel
@testable import EMALogCore
import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// `ingest -` reading frames in place from the trainer's shared memory (`Z` records): slots go
/// round a ring as emalog hands them back, the bytes stored are the bytes written, a slot written
/// again before it was handed back refuses its step, and every record or memory file that does not
/// fit the protocol is refused as bad input with what came before it stored.
@Suite struct SharedSlotTests {
    let dir = TemporaryDirectory()
    var db: String { dir.file("s.emalog") }

    static func frame(_ step: Int, count: Int = 1000) -> [UInt8] {
        var b = SafetensorsBuilder(step: step)
        b.add("a", dtype: .i64, shape: [1], bytes: withUnsafeBytes(of: Int64(step)) { Array($0) })
        b.add("w", shape: [count], floats: (0..<count).map { Float($0) * 0.001 + Float(step) * 0.5 })
        return b.bytes()
    }

    func request(_ ring: SlotRingFeed?, tracks: [String] = ["0.9"]) throws -> IngestRequest {
        var request = IngestRequest(logPath: db, inputs: ["-"])
        request.tracks = try tracks.map { try EMASpec(parsing: $0) }
        request.keepStoredMetrics = true
        request.sharedMemoryDescriptor = ring?.fd
        return request
    }

    /// 40 steps through 3 slots (emalog holds a step and the two before it while it reads the
    /// next): every step read back equals its frame, the track equals the one an ingest of the
    /// same frames through the pipe keeps, and every slot is handed back at the end.
    @Test func stepsGoRoundTheRingAndComeBackExactly() throws {
        let ring = SlotRingFeed(slots: 3, slotBytes: Self.frame(40).count)
        let report = try StreamFeed.ingest(request(ring)) { send in
            for step in 1...40 {
                guard let record = ring.put(Self.frame(step), slot: step % 3) else { return }
                send(record)
            }
        }
        #expect(report.stepsAdded == 40)
        #expect((0..<3).allSatisfy { ring.released($0) == ring.filled($0) && ring.filled($0) > 0 })
        let log = try EMALog(openingAt: db)
        for step in [1, 2, 17, 39, 40] {
            let out = dir.file("raw-\(step).safetensors")
            _ = try log.writeRaw(atStep: step, to: out, format: .safetensors)
            #expect(try LoadedSafetensors(path: out).tensors["w"]?.bytes == LoadedSafetensors(bytes: Self.frame(step)).tensors["w"]?.bytes)
        }
        let piped = dir.file("piped.emalog")
        var request = try request(nil)
        request.logPath = piped
        _ = try StreamFeed.ingest(request, records: (1...40).map { StreamFeed.frame(Self.frame($0)) })
        let here = try Goldens.shadow(db, step: 40, .only, in: dir)
        let there = try Goldens.shadow(piped, step: 40, .only, in: dir)
        #expect(here.tensors["w"]?.bytes == there.tensors["w"]?.bytes)
        #expect(try log.audit().findings.isEmpty)
    }

    /// A trainer that writes a slot again while emalog still reads its step (never the Logger):
    /// that step is refused with nothing of it stored, the steps before stay.
    @Test func aSlotWrittenAgainBeforeItWasHandedBackRefusesItsStep() throws {
        let ring = SlotRingFeed(slots: 3, slotBytes: Self.frame(2).count)
        _ = try StreamFeed.ingest(request(ring)) { send in send(ring.put(Self.frame(1), slot: 0)!) }
        var request = try request(ring)
        // Before the step is stored (the live shadows are restored first), the trainer scribbles on it.
        request.hooks.beforeRestore = { ring.scribble(slot: 1, at: 200, byte: 0) }
        let error = try #require(throws: IngestError.self) {
            try StreamFeed.ingest(request) { send in send(ring.put(Self.frame(2), slot: 1)!) }
        }
        guard case .slotWrittenAgain(_, 2, 1, _, _) = error else { Issue.record("\(error)"); return }
        #expect(try EMALog(openingAt: db).info().lastStep == 1)
        #expect(try EMALog(openingAt: db).audit().findings.isEmpty)
    }

    /// Records and memory files that do not fit: each is bad input naming what is wrong, and the
    /// step before it is stored.
    @Test(arguments: [
        ("no shared memory given", "no shared memory was given"),
        ("fields", "a slot, an offset, a length and a generation"),
        ("slot out of range", "is not one of the table's"),
        ("offset not on a page", "must start on a page past the slot table"),
        ("past the end", "ends past the shared memory"),
        ("other generation", "not the record's"),
        ("length not the frame's", "the frame's header declares"),
        ("unsealed", "not sealed against shrinking"),
        ("no slot table", "does not start with an emalog slot table"),
    ])
    func aRecordThatDoesNotFitIsRefused(_ testCase: (name: String, expected: String)) throws {
        let ring = SlotRingFeed(slots: 2, slotBytes: 64 << 10, seal: testCase.name != "unsealed", magic: testCase.name != "no slot table")
        var request = try request(testCase.name == "no shared memory given" ? nil : ring)
        request.sharedMemoryDescriptor = testCase.name == "no shared memory given" ? nil : ring.fd
        let frame = Self.frame(2)
        let good = ring.put(frame, slot: 1)!
        let text = String(decoding: good, as: UTF8.self)
        let parts = text.dropFirst().dropLast().split(separator: " ").map { Int($0)! }
        let record: String = switch testCase.name {
        case "fields": "Z1 \(parts[1]) \(parts[2])\n"
        case "slot out of range": "Z63 \(parts[1]) \(parts[2]) \(parts[3])\n"
        case "offset not on a page": "Z1 \(parts[1] + 8) \(parts[2]) \(parts[3])\n"
        case "past the end": "Z1 \(parts[1]) \(1 << 30) \(parts[3])\n"
        case "other generation": "Z1 \(parts[1]) \(parts[2]) \(parts[3] + 1)\n"
        case "length not the frame's": "Z1 \(parts[1]) \(parts[2] + 8) \(parts[3])\n"
        default: text
        }
        let error = try #require(throws: IngestError.self) {
            try StreamFeed.ingest(request, records: [StreamFeed.frame(Self.frame(1)), Array(record.utf8)])
        }
        guard case let .badStream(2, detail) = error else { Issue.record("\(testCase.name): \(error)"); return }
        #expect(detail.contains(testCase.expected), "\(testCase.name): \(detail)")
        #expect(try EMALog(openingAt: db).info().lastStep == 1)
    }
}
