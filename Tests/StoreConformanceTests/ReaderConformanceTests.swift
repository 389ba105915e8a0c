import EMAKernel
@testable import EMALogCore
import EMALogFormats
import EMALogPostgres
import EMALogSQLite
import EMALogStore
import EMALogTestSupport
import Foundation
import GRDB
import Testing

/// The `LogReader` contract across backends: one log, held by each backend (the SQLite file that
/// an ingest wrote, a copy of it in memory over the protocols, a push of it to a team store), reads
/// back the same through every requirement; the same damaged row reads as the same error.
@Suite struct ReaderConformanceTests {
    let dir = TemporaryDirectory()

    /// The fixture run with keyframes, one- and two-step residuals, several chunks per tensor,
    /// two tracks with snapshots, metrics, and a retention policy applied by `prune` (every 5th
    /// step and the last 4 keep their raw weights, the others' left out and the kept steps after
    /// them re-encoded; an ingest under a policy would store the kept steps as keyframes only).
    func ingestedLog() throws -> String {
        let db = dir.file("source.emalog")
        var request = IngestRequest(logPath: db, inputs: [Fixtures.path("mlp-f32/steps"), Fixtures.path("mlp-f32/metrics.jsonl")])
        request.tracks = try ["name=slow,decay=0.99", "name=timm,decay=0.9,schedule=warmup,form=lerp"].map { try EMASpec(parsing: $0) }
        request.snapshotEvery = 5
        request.keyframeEvery = 4
        request.chunkBytes = 256
        _ = try Ingest.run(request)
        _ = try LogEdit.prune(log: db, rawEvery: 5, keepLast: 4, dryRun: false, arguments: ["prune"])
        _ = try LogEdit.pin(log: db, step: .number(15), name: "best")
        _ = try LogEdit.pin(log: db, step: .number(1), name: "early")
        return db
    }

    /// Everything a reader hands out, ids replaced by what they name (each backend numbers its own rows).
    static func view(of store: any LogStore) throws -> [String] {
        try store.read { r in
            var lines: [String] = []
            let tensors = try r.tensors(), tracks = try r.tracks()
            let tensorName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.id, $0.name) })
            lines.append("log \(try r.logID())")
            lines += tensors.map { "tensor \($0.position) \($0.name) \($0.dtype) \($0.shape) \($0.elementCount)" }
            lines += try r.ingests().map { "ingest \($0)" }
            let steps = try r.stepNumbers()
            lines.append("steps \(steps) first \(String(describing: try r.firstStep())) last \(String(describing: try r.lastStep()))")
            lines.append("steps in 3...11 \(try r.stepNumbers(in: 3...11))")
            for step in [0, 1, 2, 7, 24, 25, 1000] {
                let (below, above) = try r.neighbours(of: step)
                lines.append("neighbours of \(step): \(String(describing: below)) \(String(describing: above))")
                lines.append("record \(step): \(String(describing: try r.stepRecord(step)))")
                let (rawBelow, rawAbove) = try r.rawNeighbours(of: step)
                lines.append("raw neighbours of \(step): \(String(describing: rawBelow)) \(String(describing: rawAbove))")
            }
            lines.append("raw steps \(try r.rawStepNumbers(in: 0...StepNumber.largest)) in 3...11 \(try r.rawStepNumbers(in: 3...11))")
            lines += try r.stepRecords(in: 0...StepNumber.largest).map { "record \($0)" }
            for track in tracks {
                lines.append("track \(track.name) \(track.spec)")
                for snapshot in try r.snapshots(track: track.id) {
                    lines.append("snapshot \(track.name) \(snapshot.step)")
                    for tensor in tensors where tensor.dtype.isFloating {
                        try r.forEachStoredChunk(of: tensor, in: .snapshot(snapshot.id)) {
                            lines.append("  \(tensor.name) \($0.header) \(Self.hash($0.payload))")
                        }
                    }
                }
                lines.append("snapshot of \(track.name) at or before 12: \(String(describing: try r.snapshot(track: track.id, atOrBefore: 12)?.step))")
            }
            lines += try r.owedSnapshots().map { "owed \($0)" }
            lines += try r.pins().map { "pin \($0)" }
            for step in try r.rawStepNumbers(in: 0...StepNumber.largest) {
                for tensor in tensors {
                    lines.append("step \(step) \(tensor.name) chunks \(try r.chunkCount(of: tensor, step: step))")
                    try r.forEachStoredChunk(of: tensor, in: .step(step)) {
                        lines.append("  \($0.header) \(Self.hash($0.payload))")
                    }
                    var decoded = XXH64()
                    try r.forEachChunk(of: tensor, in: .step(step)) { _, bytes in decoded.update(bytes) }
                    lines.append("  decoded \(decoded.finalize())")
                }
            }
            if let tensor = tensors.first {
                lines.append("stored 1 at or before 13: \(try r.storedChunks(of: tensor, index: 1, atOrBefore: 13, limit: 3).map(\.step))")
                lines.append("stored 0 at 5: \(try r.storedChunk(of: tensor, index: 0, step: 5).header)")
                var codecs: [String] = []
                try r.forEachChunkCodec(of: tensor, index: 0, atOrBefore: 13) { step, codec in
                    codecs.append("\(step) \(String(describing: codec))")
                    return codecs.count < 6
                }
                lines.append("codecs \(codecs)")
            }
            lines += try r.chunkCounts().map { "count \($0.step) \(tensorName[$0.tensorID]!) \($0.count)" }.sorted()
            let keys = try r.metricKeys()
            let keyName = Dictionary(uniqueKeysWithValues: keys.map { ($1, $0) })
            lines.append("keys \(keys.keys.sorted())")
            for key in keys.keys.sorted() {
                lines += try r.metricValues(keyIDs: [keys[key]!], steps: 0...StepNumber.largest).map { "\(key) \($0.step) \($0.value.bitPattern)" }
            }
            lines += try r.metricValues(keyIDs: Array(keys.values), steps: 5...9).map { "5...9 \($0.step) \(keyName[$0.keyID]!)" }
            let s = try r.summary()
            lines.append("summary \(s.stepCount) \(String(describing: s.firstStep)) \(String(describing: s.lastStep)) \(s.chunkCount) \(s.chunkBytes) "
                         + "\(s.snapshotCount) \(s.snapshotBytes) \(s.metricKeyCount) \(s.metricValueCount) \(s.ingestCount) "
                         + s.codecs.map { "\($0.codec):\($0.chunks):\($0.storedBytes):\($0.rawBytes)" }.joined(separator: ","))
            lines += try r.damagedMetricRows().map { "damaged \($0)" }
            lines += try r.totalsProblems().map { "totals \($0)" }
            return lines
        }
    }

    static func hash(_ bytes: [UInt8]) -> UInt64 { bytes.withUnsafeBytes { XXH64.hash($0) } }

    static func expectSame(_ a: [String], _ b: [String], _ backend: Backend) {
        #expect(a.count == b.count, "\(backend): \(b.count) lines against \(a.count)")
        if let i = zip(a, b).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            Issue.record("\(backend) differs from the SQLite log at line \(i): '\(b[i])' against '\(a[i])'")
        }
    }

    /// The SQLite log's view, checked to cover the run.
    func sqliteView(_ db: String) throws -> [String] {
        let sqlite = try SQLiteLogStore.openForReading(at: db)
        defer { try? sqlite.close() }
        let expected = try Self.view(of: sqlite)
        #expect(expected.count > 300, "the view must cover the run")
        #expect(expected.contains { $0.contains("delta2") } && expected.contains { $0.hasPrefix("snapshot ") })
        #expect(expected.filter { $0.hasPrefix("pin ") }.count == 2)
        return expected
    }

    @Test func theMemoryStoreReadsTheLogAsTheSQLiteFile() throws {
        let db = try ingestedLog()
        let expected = try sqliteView(db)
        let sqlite = try SQLiteLogStore.openForReading(at: db)
        defer { try? sqlite.close() }
        let memory = MemoryLogStore(chunkBytes: sqlite.layout.chunkBytes)
        _ = try LogCopy.copy(from: sqlite, into: memory, stop: StopToken(), stopped: CancellationError())
        Self.expectSame(expected, try Self.view(of: memory), .memory)
    }

    @Test(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1: the team-store backend is skipped"))
    func theTeamStoreReadsThePushedLogAsTheSQLiteFile() async throws {
        let db = try ingestedLog()
        let expected = try sqliteView(db)
        let server = try await ThrowawayPostgres.database()
        let viewed = try await Spawn.offPool {
            _ = try TeamStore.push(log: db, to: server, run: "r")
            let run = try ServerRunStore(address: server, run: "r")
            defer { try? run.close() }
            return try Self.view(of: run)
        }
        Self.expectSame(expected, viewed, .postgres)
    }

    /// A damaged row is validated by the shared records, so every backend says the same.
    @Test(.enabled(if: ThrowawayPostgres.enabled, "EMALOG_NO_POSTGRES=1: the team-store backend is skipped"))
    func aDamagedRowReadsAsTheSameErrorFromEveryBackend() async throws {
        let db = try ingestedLog()
        let server = try await ThrowawayPostgres.database()
        _ = try await Spawn.offPool { try TeamStore.push(log: db, to: server, run: "r") }
        let damage: [(sqlite: String, postgres: String)] = [
            ("UPDATE steps SET metadata = '[1]' WHERE step = 3", "UPDATE run_steps SET metadata = '[1]' WHERE step = 3"),
            ("UPDATE steps SET source_xxh64 = 'xyz' WHERE step = 4", "UPDATE run_steps SET source_xxh64 = 'xyz' WHERE step = 4"),
            ("UPDATE steps SET source_size = -1 WHERE step = 5", "UPDATE run_steps SET source_size = -1 WHERE step = 5"),
            ("UPDATE ingests SET arguments = '{}'", "UPDATE run_ingests SET arguments = '{}'"),
        ]
        let queue = try DatabaseQueue(path: db)
        for (sqlite, postgres) in damage {
            try await queue.write { try $0.execute(sql: sqlite) }
            let status = await ThrowawayPostgres.sql(server, postgres).status
            #expect(status == 0, "\(postgres)")
        }
        try queue.close()
        @Sendable func errors(_ store: any LogStore) -> [String] {
            [{ try store.read { _ = try $0.stepRecord(3) } }, { try store.read { _ = try $0.stepRecord(4) } },
             { try store.read { _ = try $0.stepRecords(in: 5...5) } }, { try store.read { _ = try $0.ingests() } }]
                .map { call in
                    do { try call(); return "no error" } catch { return "\(error)" }
                }
        }
        let local = try SQLiteLogStore.openForReading(at: db, auditing: true)
        defer { try? local.close() }
        let fromLog = errors(local)
        let fromServer = try await Spawn.offPool {
            let run = try ServerRunStore(address: server, run: "r")
            defer { try? run.close() }
            return errors(run)
        }
        #expect(fromLog == [
            "the log is inconsistent: step 3: its metadata is not a JSON object of strings: '[1]'",
            "the log is inconsistent: step 4: its source hash 'xyz' is not 16 hex digits",
            "the log is inconsistent: step 5: its source size is -1",
            "the log is inconsistent: ingest 1: its command line is not a JSON array of strings: '{}'",
        ])
        #expect(fromServer == fromLog)
    }
}
