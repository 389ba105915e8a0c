import EMALogFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A long run through the CLI: many steps of a small model, one track snapshotted every 1000
/// steps, ingested in rounds (each a resumed ingest, as a training job's restarts are). Prints
/// the ingest time per step as the log grows, and `info` and `shadow` once the log holds 1k, 10k
/// and 100k steps: neither should cost more for a longer log.
enum LongRunBench {
    static func run(steps total: Int) throws {
        let dir = try ScaleBench.folder("long")
        // `--keep` leaves the log for a closer look (its path is printed).
        let keep = CommandLine.arguments.contains("--keep")
        defer { if keep { print("kept \(dir)/long.emalog") } else { try? FileManager.default.removeItem(atPath: dir) } }
        let parameters = 4096, tensors = 4
        print("\n## \(total) steps of a \(parameters)-parameter model (\(tensors) tensors), one track snapshotted every 1000 steps, via the CLI")
        let layouts = (0..<tensors).map { TensorLayout(name: "layer\($0).weight", dtype: .f32, shape: [parameters / tensors]) }
        let header = Safetensors.encodeHeader(layouts, metadata: [:])
        var values = (0..<parameters).map { Float($0 % 977) * 1e-3 - 0.5 }
        var state: UInt64 = 17
        let db = dir + "/long.emalog"
        // Rounds of 1000 steps to 10k, then of 10k: the log is measured at each power of ten.
        var ends: [Int] = []
        var end = 0
        while end < total { end += end < 10_000 ? 1000 : 10_000; ends.append(min(end, total)) }
        var stored = 0
        print("steps in log   ingest ms/step (that round)   info      info --json   shadow at the last step (a snapshot)   shadow 500 steps past a snapshot")
        var firstRate = 0.0, lastRate = 0.0
        for roundEnd in ends {
            let folder = dir + "/round"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            for step in (stored + 1)...roundEnd {
                ScaleBench.walk(&values, &state)
                ScaleBench.writeStep(folder + String(format: "/step-%08d.safetensors", step), header: header, values: values)
            }
            let ingest = try LargeStepBench.run(["ingest", "--db", db, "--ema", "name=main,decay=0.999", folder]).0
            try FileManager.default.removeItem(atPath: folder)
            let rate = ingest * 1e3 / Double(roundEnd - stored)
            if stored == 0 { firstRate = rate }
            lastRate = rate
            stored = roundEnd
            guard [1000, 10_000, 100_000].contains(stored) || stored == total else { continue }
            func median(_ args: [String]) throws -> Double {
                try (0..<3).map { _ in try LargeStepBench.run(args).0 }.sorted()[1]
            }
            let info = try median(["info", "--db", db])
            let json = try median(["info", "--db", db, "--json"])
            let last = try median(["shadow", "--db", db, "--ema", "main", "-o", dir + "/s.safetensors"])
            let past = try median(["shadow", "--db", db, "--ema", "main", "--step", "\(max(1, stored - 500))", "-o", dir + "/p.safetensors"])
            print(String(format: "%12d   %8.3f                      %6.3f s   %6.3f s      %6.3f s                                %6.3f s",
                         stored, rate, info, json, last, past))
        }
        print(String(format: "ingest, last round / first round: %.2fx per step", lastRate / firstRate))
    }
}
