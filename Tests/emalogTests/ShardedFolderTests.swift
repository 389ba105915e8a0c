import EMALogFormats
import EMALogTestSupport
import FormatsTestSupport
import Foundation
import Testing

/// A sharded training's folder of rank logs (`rank-RRRRR.emalog`, each step naming its slices in
/// `__metadata__["emalog.shard"]`) read whole by every reader, bit-identical to the unsharded log
/// of the same steps. The ranks here are cut from mlp-f32's steps by this file's own slicing, as
/// a 2x2 mesh would: 2-D tensors in uneven blocks over both dimensions, 1-D tensors in uneven
/// rows over three ranks (the fourth's slice empty), 0-d tensors held whole by two ranks.
struct ShardedFolderTests {
    let steps = Fixtures.path("mlp-f32/steps")
    let metrics = Fixtures.path("mlp-f32/metrics.jsonl")
    let tracks = ["--ema", "0.9", "--ema", "name=warm,decay=0.99,schedule=warmup", "--snapshot-every", "5"]

    /// A slice: where it starts in the whole tensor and its shape.
    struct Box: Equatable {
        var offset: [Int]
        var shape: [Int]
    }

    /// The slice rank `rank` of 4 holds of a tensor of `shape`, nil for none.
    static func grid(_ rank: Int, _ shape: [Int]) -> Box? { box(rank: rank, of: shape) }

    static func box(rank: Int, of shape: [Int]) -> Box? {
        switch shape.count {
        case 0:
            return rank < 2 ? Box(offset: [], shape: []) : nil
        case 1:
            let per = (shape[0] + 2) / 3
            let lo = min(shape[0], rank * per), hi = rank == 3 ? lo : min(shape[0], (rank + 1) * per)
            return Box(offset: [rank == 3 ? shape[0] : lo], shape: [hi - lo])
        default:
            let rows = (shape[0] + 1) / 2, cols = max(1, shape.last! / 3)
            let r = rank / 2, c = rank % 2
            var offset = Array(repeating: 0, count: shape.count), size = shape
            offset[0] = r == 0 ? 0 : rows
            size[0] = r == 0 ? rows : shape[0] - rows
            offset[shape.count - 1] = c == 0 ? 0 : cols
            size[shape.count - 1] = c == 0 ? cols : shape.last! - cols
            return Box(offset: offset, shape: size)
        }
    }

    /// The bytes of `box` cut from a row-major tensor of `shape` (elements of `width` bytes).
    static func cut(_ data: [UInt8], shape: [Int], width: Int, box: Box) -> [UInt8] {
        guard !shape.isEmpty else { return data }
        var out: [UInt8] = []
        func walk(_ d: Int, _ base: Int) {
            let stride = shape[(d + 1)...].reduce(width, *)
            for i in box.offset[d]..<(box.offset[d] + box.shape[d]) {
                if d == shape.count - 1 {
                    out += data[(base + i * width)..<(base + (i + 1) * width)]
                } else {
                    walk(d + 1, base + i * stride)
                }
            }
        }
        walk(0, 0)
        return out
    }

    /// Writes rank `r`'s step files of every step in `source` to `folder(r)`; `layout(r, tensors)`
    /// is the layout text each step carries (nil: none).
    static func split(_ source: String, into folder: (Int) -> String, boxes: (Int, [Int]) -> Box? = Self.grid,
                      layout: (Int, [String: (shape: [Int], box: Box)]) -> String? = Self.layoutJSON) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: source).sorted() where name.hasSuffix(".safetensors") {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source + "/" + name)))
            let header = try bytes.withUnsafeBytes { raw in
                let length = try Safetensors.headerLength(prefix: UnsafeRawBufferPointer(rebasing: raw[0..<8]), fileSize: raw.count)
                return try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: raw[8..<(8 + length)]), fileSize: raw.count)
            }
            for rank in 0..<4 {
                var builder = SafetensorsBuilder()
                builder.metadata = header.metadata
                var held: [String: (shape: [Int], box: Box)] = [:]
                for t in header.tensors {
                    guard let box = boxes(rank, t.shape) else { continue }
                    let data = Array(bytes[(header.dataOffset + t.byteRange.lowerBound)..<(header.dataOffset + t.byteRange.upperBound)])
                    builder.add(t.name, dtype: t.dtype, shape: box.shape, bytes: cut(data, shape: t.shape, width: t.dtype.byteWidth, box: box))
                    held[t.name] = (t.shape, box)
                }
                builder.metadata[ShardLayout.metadataKey] = layout(rank, held)
                try FileManager.default.createDirectory(atPath: folder(rank), withIntermediateDirectories: true)
                try builder.write(to: folder(rank) + "/" + name)
            }
        }
    }

    static func layoutJSON(_ rank: Int, _ held: [String: (shape: [Int], box: Box)]) -> String? {
        let slices = held.keys.sorted().filter { held[$0]!.shape != held[$0]!.box.shape }.map { name in
            "\"\(name)\":{\"shape\":\(held[name]!.shape),\"offset\":\(held[name]!.box.offset)}"
        }
        return "{\"rank\":\(rank),\"ranks\":4,\"tensors\":{\(slices.joined(separator: ","))}}"
    }

    /// Ingests each rank's steps into `folder/rank-RRRRR.emalog`.
    func ingestRanks(_ dir: TemporaryDirectory, folder: String) async throws {
        for rank in 0..<4 {
            let r = try await CLI.run(["ingest", "--db", folder + "/rank-0000\(rank).emalog"] + tracks
                                      + [dir.file("rank\(rank)-steps")] + (rank == 0 ? [metrics] : []))
            #expect(r.status == 0, "rank \(rank): \(r.stderr)")
        }
    }

    /// Each tensor's name, dtype, shape and bytes in a safetensors file, by name (metadata left out).
    static func tensors(_ path: String) throws -> [String: [UInt8]] {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let header = try bytes.withUnsafeBytes { raw in
            let length = try Safetensors.headerLength(prefix: UnsafeRawBufferPointer(rebasing: raw[0..<8]), fileSize: raw.count)
            return try Safetensors.decodeHeader(UnsafeRawBufferPointer(rebasing: raw[8..<(8 + length)]), fileSize: raw.count)
        }
        return Dictionary(uniqueKeysWithValues: header.tensors.map { t in
            ("\(t.name) \(t.dtype.rawValue) \(t.shape)",
             Array(bytes[(header.dataOffset + t.byteRange.lowerBound)..<(header.dataOffset + t.byteRange.upperBound)]))
        })
    }

    @Test func everyReaderGivenTheFolderAnswersAsTheUnshardedLog() async throws {
        let dir = TemporaryDirectory()
        let full = dir.file("full.emalog")
        #expect(try await CLI.run(["ingest", "--db", full] + tracks + [steps, metrics]).status == 0)
        try Self.split(steps, into: { dir.file("rank\($0)-steps") })
        let folder = dir.file("sharded")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try await ingestRanks(dir, folder: folder)

        for (i, query) in [["shadow", "--ema", "0.9"], ["shadow", "--ema", "warm", "--step", "12"], ["shadow", "--decay", "0.95", "--step", "7"],
                           ["shadow", "--ema", "0.9", "--dtype", "param"], ["raw", "--step", "9"], ["raw"]].enumerated() {
            let a = dir.file("full-\(i).safetensors"), b = dir.file("sharded-\(i).safetensors")
            let ra = try await CLI.run(query + ["--db", full, "-o", a]), rb = try await CLI.run(query + ["--db", folder, "-o", b])
            #expect(ra.status == 0 && rb.status == 0, "\(query): \(ra.stderr) \(rb.stderr)")
            let whole = try Self.tensors(a)
            let sharded = try Self.tensors(b)
            #expect(whole.count == 12 && whole == sharded, "\(query)")
        }
        let sweep = try await CLI.run(["sweep", "--db", folder, "--decays", "0.9,0.999", "-o", dir.file("sweep")])
        let sweepFull = try await CLI.run(["sweep", "--db", full, "--decays", "0.9,0.999", "-o", dir.file("sweep-full")])
        #expect(sweep.status == 0 && sweepFull.status == 0, "\(sweep.stderr)")
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.file("sweep-full")) {
            #expect(try Self.tensors(dir.file("sweep-full/" + name)) == (try Self.tensors(dir.file("sweep/" + name))), "\(name)")
        }
        let verify = try await CLI.run(["verify", "--db", folder, "--ema", "warm", dir.file("full-1.safetensors"), "--step", "12"])
        #expect(verify.status == 0 && verify.stdout.contains("exact"), "\(verify.stdout) \(verify.stderr)")
        let audit = try await CLI.run(["audit", "--db", folder])
        #expect(audit.status == 0 && audit.stdout.contains("clean"), "\(audit.stdout) \(audit.stderr)")
        let info = try await CLI.run(["info", "--db", folder, "--json"])
        #expect(info.status == 0 && info.stdout.contains("\"ranks\":4") && info.stdout.contains("\"tensors\":12"), "\(info.stdout)")
        let metricsOfFolder = try await CLI.run(["metrics", "--db", folder, "--key", "loss", "--format", "csv"])
        let metricsOfFull = try await CLI.run(["metrics", "--db", full, "--key", "loss", "--format", "csv"])
        #expect(metricsOfFolder.status == 0 && metricsOfFolder.stdout == metricsOfFull.stdout)
        // The track diagnostics add up over the ranks to the whole model's: the same picture's points.
        let plotFolder = try await CLI.run(["plot", "--db", folder, "--tracks", "-o", dir.file("folder.svg")])
        let plotFull = try await CLI.run(["plot", "--db", full, "--tracks", "-o", dir.file("full.svg")])
        #expect(plotFolder.status == 0 && plotFull.status == 0, "\(plotFolder.stderr)")
        #expect(try await CLI.run(["report", "--db", folder, "-o", dir.file("report.html")]).status == 0)
        let digest = try await CLI.run(["info", "--db", folder, "--digest"])
        #expect(digest.status == 64 && digest.stderr.contains("rank-00000.emalog"), "\(digest.stderr)")
    }

    @Test func aFolderMissingARankOrWithOverlappingSlicesIsRefused() async throws {
        let dir = TemporaryDirectory()
        try Self.split(steps, into: { dir.file("rank\($0)-steps") })
        let folder = dir.file("sharded")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try await ingestRanks(dir, folder: folder)
        // The last rank gone: the others' logs say there were four.
        try FileManager.default.moveItem(atPath: folder + "/rank-00003.emalog", toPath: dir.file("rank3.emalog"))
        let short = try await CLI.run(["shadow", "--db", folder, "--ema", "0.9", "-o", dir.file("a.safetensors")])
        #expect(short.status == 65 && short.stderr.contains("says the training has 4 ranks, 3 are read: no log of rank 3"), "\(short.stderr)")
        // A rank in the middle gone: named.
        try FileManager.default.moveItem(atPath: dir.file("rank3.emalog"), toPath: folder + "/rank-00003.emalog")
        try FileManager.default.moveItem(atPath: folder + "/rank-00001.emalog", toPath: dir.file("rank1.emalog"))
        let gap = try await CLI.run(["raw", "--db", folder, "-o", dir.file("b.safetensors")])
        #expect(gap.status == 65 && gap.stderr.contains("no log of rank 1 (rank-00001.emalog)"), "\(gap.stderr)")
        // Rank 0's log in rank 1's place: its slices overlap rank 0's.
        try FileManager.default.copyItem(atPath: folder + "/rank-00000.emalog", toPath: folder + "/rank-00001.emalog")
        let twice = try await CLI.run(["audit", "--db", folder])
        #expect(twice.status == 1 && twice.stdout.contains("shards:") && twice.stdout.contains("says it is rank 0"),
                "\(twice.stdout) \(twice.stderr)")
        let empty = dir.file("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let none = try await CLI.run(["info", "--db", empty])
        #expect(none.status == 66 && none.stderr.contains("holds no rank logs"), "\(none.stderr)")
        #expect(!FileManager.default.fileExists(atPath: empty + "/rank-00000.emalog"))
    }

    @Test func aStepsLayoutIsCheckedAndKeptFromTheLogsFirstStep() async throws {
        let dir = TemporaryDirectory()
        try Self.split(steps, into: { dir.file("rank\($0)-steps") })
        let log = dir.file("rank-00002.emalog")
        let stepsOfRank2 = try FileManager.default.contentsOfDirectory(atPath: dir.file("rank2-steps")).sorted()
        let firstFive = try dir.copySteps(from: dir.file("rank2-steps"), to: "first") { stepsOfRank2.prefix(5).contains($0) }
        #expect(try await CLI.run(["ingest", "--db", log] + tracks + [firstFive]).status == 0)

        // The same rank's steps saying another layout (rank 1's slices of the same shapes would be
        // another rank; here the offsets move): refused, nothing stored.
        try Self.split(steps, into: { dir.file("other\($0)-steps") }, layout: { rank, held in
            Self.layoutJSON(rank, held)!.replacingOccurrences(of: "\"rank\":\(rank)", with: "\"rank\":\((rank + 1) % 4)")
        })
        let moved = try await CLI.run(["ingest", "--db", log, dir.file("other2-steps")])
        #expect(moved.status == 65 && moved.stderr.contains("it is rank 3 of 4, the log's first step is rank 2 of 4"), "\(moved.stderr)")
        // Layouts that cannot be read or do not fit their step.
        for (bad, says) in [("{\"rank\":2}", "needs \"rank\" and \"ranks\""), ("[1]", "not a JSON object"),
                            ("{\"rank\":4,\"ranks\":4,\"tensors\":{}}", "rank 4 is not below ranks 4"),
                            ("{\"rank\":2,\"ranks\":4,\"tensors\":{\"fc1.weight\":{\"shape\":[8,6],\"offset\":[4,5]}}}", "goes past"),
                            ("{\"rank\":2,\"ranks\":4,\"tensors\":{\"nope\":{\"shape\":[8],\"offset\":[0]}}}", "does not hold"),
                            ("{\"rank\":2,\"ranks\":4,\"tensors\":{\"fc1.weight\":{\"shape\":[99999999999999999],\"offset\":[0]}}}", "not a size")] {
            let folder = dir.file("bad-\(abs(bad.hashValue))")
            try Self.split(steps, into: { "\(folder)-\($0)" }, layout: { _, _ in bad })
            let r = try await CLI.run(["ingest", "--db", dir.file("fresh-\(abs(bad.hashValue)).emalog"), "--ema", "0.9", "\(folder)-2"])
            #expect(r.status == 65 && r.stderr.contains("emalog.shard") && r.stderr.contains(says), "\(bad): \(r.stderr)")
        }
        // The rest of the same rank's steps go on; info on the log shows the same five steps and more.
        #expect(try await CLI.run(["ingest", "--db", log, dir.file("rank2-steps")]).status == 0)
        let info = try await CLI.run(["info", "--db", log, "--json"])
        #expect(info.stdout.contains("\"steps\":24"), "\(info.stdout)")
        // A log of the whole model does not take a rank's steps.
        let plain = try dir.copySteps(from: steps, to: "plain") { stepsOfRank2.prefix(5).contains($0) }
        #expect(try await CLI.run(["ingest", "--db", dir.file("plain.emalog"), "--ema", "0.9", plain]).status == 0)
        let later = try await CLI.run(["ingest", "--db", dir.file("plain.emalog"), dir.file("rank2-steps")])
        #expect(later.status == 65 && later.stderr.contains("holds the whole model"), "\(later.stderr)")
    }

    @Test func aStoredLayoutIsCheckedAgainWhenRead() async throws {
        let dir = TemporaryDirectory()
        try Self.split(steps, into: { dir.file("rank\($0)-steps") })
        let folder = dir.file("sharded")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try await ingestRanks(dir, folder: folder)
        let rank1 = folder + "/rank-00001.emalog"
        let first = "(SELECT min(step) FROM steps)"
        // A slice moved outside its tensor (a log edited by hand, or pushed by anyone): refused, never
        // copied out of bounds.
        for (edit, says) in [("replace(metadata, '\\\"offset\\\":[0, 2]', '\\\"offset\\\":[100000000, 2]')", "does not lie inside"),
                             ("replace(metadata, '\\\"ranks\\\":4', '\\\"ranks\\\":4,\\\"x\\\":1')", "does not read")] {
            let copy = dir.file("copy-\(says.count)")
            try FileManager.default.copyItem(atPath: folder, toPath: copy)
            _ = try await LogDump.run("/usr/bin/sqlite3", [copy + "/rank-00001.emalog", "UPDATE steps SET metadata = \(edit) WHERE step = \(first)"])
            let changed = try await LogDump.run("/usr/bin/sqlite3", [copy + "/rank-00001.emalog", "SELECT metadata FROM steps WHERE step = \(first)"])
            #expect(changed.contains("100000000") || changed.contains("x\\\""), "\(changed)")
            for query in [["shadow", "--ema", "0.9"], ["raw"]] {
                let r = try await CLI.run(query + ["--db", copy, "-o", dir.file("out-\(says.count).safetensors")])
                #expect(r.status == 65 && r.stderr.contains(says), "\(query): \(r.status) \(r.stderr)")
            }
            let audit = try await CLI.run(["audit", "--db", copy])
            #expect(audit.status == 1 && audit.stdout.contains(says), "\(audit.stdout)")
        }
        // Two logs of one rank, and an ingest or edit given the folder.
        try FileManager.default.copyItem(atPath: rank1, toPath: folder + "/rank-000001.emalog")
        let twice = try await CLI.run(["info", "--db", folder])
        #expect(twice.status == 65 && twice.stderr.contains("two logs say they are rank 1"), "\(twice.stderr)")
        try FileManager.default.removeItem(atPath: folder + "/rank-000001.emalog")
        for edit in [["pin", "--db", folder, "--step", "3", "--name", "x"], ["truncate", "--db", folder, "--after", "3"],
                     ["ingest", "--db", folder, dir.file("rank0-steps")]] {
            let r = try await CLI.run(edit)
            #expect(r.status == 64 && r.stderr.contains("is a folder"), "\(edit): \(r.stderr)")
        }
        // An output never lands on a rank's log.
        let over = try await CLI.run(["raw", "--db", folder, "-o", rank1, "--format", "safetensors"])
        #expect(over.status == 64, "\(over.stderr)")
        #expect(try await CLI.run(["audit", "--db", folder]).status == 0)
    }

    @Test func aRankThatHoldsNoSliceKeepsItsStepsAndLeftOutRawStepsAreNamed() async throws {
        let dir = TemporaryDirectory()
        let folder = dir.file("ddp")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Rank 0 holds the whole model (DDP's plain tensors), rank 1 nothing: its steps hold no tensor.
        try Self.split(steps, into: { dir.file("r\($0)-steps") }, boxes: { rank, shape in
            rank == 0 ? Box(offset: shape.map { _ in 0 }, shape: shape) : nil
        }, layout: { rank, _ in "{\"rank\":\(rank),\"ranks\":2,\"tensors\":{}}" })
        for (rank, source) in [(0, "r0-steps"), (1, "r1-steps")] {
            let r = try await CLI.run(["ingest", "--db", folder + "/rank-0000\(rank).emalog", "--ema", "0.9", "--raw-every", "4",
                                       dir.file(source)])
            #expect(r.status == 0, "rank \(rank): \(r.stderr)")
        }
        let whole = dir.file("whole.emalog")
        #expect(try await CLI.run(["ingest", "--db", whole, "--ema", "0.9", "--raw-every", "4", steps]).status == 0)
        for query in [["shadow", "--ema", "0.9"], ["raw", "--step", "8"]] {
            let a = dir.file("a.safetensors"), b = dir.file("b.safetensors")
            #expect(try await CLI.run(query + ["--db", whole, "-o", a]).status == 0)
            let r = try await CLI.run(query + ["--db", folder, "-o", b])
            #expect(r.status == 0, "\(query): \(r.stderr)")
            let wanted = try Self.tensors(a), got = try Self.tensors(b)
            #expect(wanted.count == 12 && wanted == got, "\(query)")
        }
        let left = try await CLI.run(["raw", "--db", folder, "--step", "6", "-o", dir.file("c.safetensors")])
        #expect(left.status == 65 && left.stderr.contains("retention policy"), "\(left.stderr)")
        #expect(try await CLI.run(["audit", "--db", folder]).status == 0)
        // A rank's later step may hold no tensor only in a log that started so.
        let tensorsAfter = try await CLI.run(["ingest", "--db", folder + "/rank-00001.emalog", dir.file("r0-steps")])
        #expect(tensorsAfter.status == 65, "\(tensorsAfter.stderr)")
    }
}
