import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// `ingest -` reads records from stdin ("S" + a safetensors frame, "M" + a metrics line) and
/// stores exactly what ingesting the same steps as files stores; bad or cut-short records are
/// refused with what came before kept.
@Suite struct StreamIngestTests {
    let dir = TemporaryDirectory()
    var stepFiles: [String] {
        get throws {
            let folder = Fixtures.path("mlp-f32/steps")
            return try FileManager.default.contentsOfDirectory(atPath: folder).sorted().map { (folder as NSString).appendingPathComponent($0) }
        }
    }
    let tracks = ["--ema", "0.9", "--ema", "name=w,decay=0.99,schedule=warmup,form=lerp", "--snapshot-every", "8"]

    func stream(_ files: [String], metrics: Bool = true) throws -> Data {
        var data = Data()
        for (k, file) in files.enumerated() {
            data.append(UInt8(ascii: "S"))
            data.append(try Data(contentsOf: URL(fileURLWithPath: file)))
            if metrics { data.append(Data("M{\"step\": \(k + 1), \"loss\": \(1.0 / Double(k + 1))}\n".utf8)) }
        }
        return data
    }

    /// A frame whose header declares one F32 tensor of `bytes` bytes, with none of them following.
    static func frame(declaring bytes: Int) -> Data {
        let header = Data("{\"w\":{\"dtype\":\"F32\",\"shape\":[\(bytes / 4)],\"data_offsets\":[0,\(bytes)]},\"__metadata__\":{\"step\":\"4\"}}".utf8)
        return Data(withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init)) + header
    }

    func dump(_ db: String, _ selectors: [String]) async throws -> [String: [UInt8]] {
        try await Goldens.cliShadows(db, tracks: selectors, in: dir)
    }

    @Test func aStreamStoresWhatTheFilesStore() async throws {
        let files = try stepFiles
        let streamed = dir.file("streamed.emalog"), filed = dir.file("filed.emalog")
        let r = try await CLI.run(["ingest", "--db", streamed] + tracks + ["-"], stdin: try stream(files))
        #expect(r.status == 0 && r.stderr.contains("added \(files.count) steps") && r.stderr.contains("\(files.count) metric values"),
                "\(r.stderr)")
        #expect(try await CLI.run(["ingest", "--db", filed] + tracks + [Fixtures.path("mlp-f32/steps")]).status == 0)
        #expect(try await dump(streamed, ["ema-0.9", "w"]) == dump(filed, ["ema-0.9", "w"]))
        for step in [1, 9, files.count] {
            let a = dir.file("a-\(step).safetensors"), b = dir.file("b-\(step).safetensors")
            _ = try await CLI.run(["raw", "--db", streamed, "--step", "\(step)", "-o", a])
            _ = try await CLI.run(["raw", "--db", filed, "--step", "\(step)", "-o", b])
            #expect(try LoadedSafetensors(path: a).tensors.mapValues(\.bytes) == LoadedSafetensors(path: b).tensors.mapValues(\.bytes))
        }
        let csv = try await CLI.run(["metrics", "--db", streamed, "--format", "csv"]).stdout
        #expect(csv.hasPrefix("step,loss\n1,1.0\n2,0.5\n"), "\(csv.prefix(80))")
        #expect(try await CLI.run(["audit", "--db", streamed]).status == 0)
        // The same stream again is a no-op; a stream continuing it resumes the tracks.
        let again = try await CLI.run(["ingest", "--db", streamed, "-"], stdin: try stream(files))
        #expect(again.status == 0 && again.stderr.contains("skipped \(files.count) identical"), "\(again.stderr)")
    }

    @Test func aStreamResumedInPiecesEqualsOneStream() async throws {
        let files = try stepFiles
        let whole = dir.file("whole.emalog"), pieces = dir.file("pieces.emalog")
        #expect(try await CLI.run(["ingest", "--db", whole] + tracks + ["-"], stdin: try stream(files)).status == 0)
        let half = files.count / 2
        #expect(try await CLI.run(["ingest", "--db", pieces] + tracks + ["-"], stdin: try stream(Array(files[..<half]))).status == 0)
        #expect(try await CLI.run(["ingest", "--db", pieces, "-"], stdin: try stream(Array(files[half...]), metrics: false)).status == 0)
        #expect(try await dump(whole, ["ema-0.9", "w"]) == dump(pieces, ["ema-0.9", "w"]))
    }

    /// "F" records name step files: ingested like files given on the command line, and deleted
    /// once committed only with --remove-ingested.
    @Test func fileRecordsAreIngestedAndRemovedOnlyWhenAsked() async throws {
        let files = try stepFiles
        for remove in [false, true] {
            let spool = dir.file("spool-\(remove)")
            try FileManager.default.createDirectory(atPath: spool, withIntermediateDirectories: true)
            var data = Data()
            for file in files.prefix(5) {
                let copy = (spool as NSString).appendingPathComponent((file as NSString).lastPathComponent)
                try FileManager.default.copyItem(atPath: file, toPath: copy)
                data.append(Data("F\(copy)\n".utf8))
            }
            let db = dir.file("f-\(remove).emalog")
            let r = try await CLI.run(["ingest", "--db", db, "--ema", "0.9"] + (remove ? ["--remove-ingested"] : []) + ["-"], stdin: data)
            #expect(r.status == 0 && r.stderr.contains("added 5 steps"), "\(r.stderr)")
            let left = try FileManager.default.contentsOfDirectory(atPath: spool)
            #expect(left.count == (remove ? 0 : 5), "\(left)")
        }
        let r = try await CLI.run(["ingest", "--db", dir.file("f-missing.emalog"), "-"], stdin: Data("F/nonexistent/step-1.safetensors\n".utf8))
        #expect(r.status == 66, "\(r.stderr)")
    }

    @Test func badAndCutShortRecordsAreRefusedAfterStoringWhatCameBefore() async throws {
        let files = try stepFiles
        let good = try stream(Array(files[..<3]))
        let third = try Data(contentsOf: URL(fileURLWithPath: files[3]))
        let cases: [(String, Data, String)] = [
            ("cut inside a frame's data", good + Data([UInt8(ascii: "S")]) + third.prefix(third.count - 5), "ended inside the tensor data"),
            ("cut inside the header", good + Data([UInt8(ascii: "S")]) + third.prefix(12), "ended inside the header"),
            ("an unknown record", good + Data("X".utf8), "starts with byte 0x58"),
            ("a metrics line without its newline", good + Data("M{\"step\": 4, \"loss\": 1}".utf8), "inside a metrics line"),
            ("a bad metrics line", good + Data("M{\"loss\": 1}\n".utf8), "stdin record 7"),
            ("a frame larger than memory", good + Data([UInt8(ascii: "S")]) + Self.frame(declaring: 1 << 50), "more than a third of this machine's"),
            ("a pin without a name", good + Data("P3\n".utf8), "a \"P\" record is a step number"),
        ]
        for (k, (what, data, message)) in cases.enumerated() {
            let db = dir.file("bad-\(k).emalog")
            let r = try await CLI.run(["ingest", "--db", db, "--ema", "0.9", "-"], stdin: data)
            #expect(r.status == 65 && r.stderr.contains(message), "\(what): \(r.stderr)")
            let info = try await CLI.run(["info", "--db", db])
            #expect(info.stdout.contains("steps        3 (1 ... 3)"), "\(what): \(info.stdout)")
            #expect(try await CLI.run(["audit", "--db", db]).status == 0, "\(what)")
        }
        // A frame without a step in its metadata has no file name to take one from.
        var frame = SafetensorsBuilder()
        frame.add("w", shape: [2], floats: [0, 1])
        let r = try await CLI.run(["ingest", "--db", dir.file("nostep.emalog"), "-"], stdin: Data([UInt8(ascii: "S")] + frame.bytes()))
        #expect(r.status == 65 && r.stderr.contains("__metadata__"), "\(r.stderr)")
        #expect(try await CLI.run(["ingest", "--db", dir.file("x.emalog"), "-", files[0]]).status == 64)
    }

    /// "P" records (`Logger.pin`): a stored step is named in the stream, before a retention
    /// policy can drop it; one that cannot be taken is a warning and the run goes on.
    @Test func pinRecordsNameStepsAndBadOnesAreWarnings() async throws {
        let files = try stepFiles
        let data = try stream(Array(files[..<2])) + Data("P2 best\nP9 later\nP1 a\u{1}b\n".utf8) + (try stream(Array(files[2..<4])))
        let db = dir.file("pins.emalog")
        let r = try await CLI.run(["ingest", "--db", db, "--ema", "0.9", "-"], stdin: data)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("warning: pin 'later' of step 9 not taken: step 9 is not in the log"), "\(r.stderr)")
        #expect(r.stderr.contains("warning: pin 'a\u{1}b'") || r.stderr.contains("cannot name a pin"), "\(r.stderr)")
        let pins = try await CLI.run(["pins", "--db", db, "--format", "json"])
        #expect(pins.stdout.contains("\"name\":\"best\",\"step\":2"), "\(pins.stdout)")
        #expect(try await CLI.run(["audit", "--db", db]).status == 0)
    }
}
