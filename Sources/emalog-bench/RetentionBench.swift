import EMAKernel
import EMALogCore
import EMALogFormats
import EMALogStore
import Foundation

/// Retention: a log that keeps every 50th raw step and the last 20 against the full log (size,
/// ingest time), `prune` of the full log against copying its file, and checks that what was timed
/// came back right (the same shadows at the snapshot steps, kept raw steps as ingested).
enum RetentionBench {
    static func run(steps: Int, parameters: Int) throws {
        let folder = try ScaleBench.folder("retention")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        print("\n## Retention, \(steps) steps x \(parameters) float32 parameters, --raw-every 50 --raw-keep-last 20")
        var values = (0..<parameters).map { Float($0 % 977) * 1e-3 - 0.5 }
        var state: UInt64 = 11
        let header = Safetensors.encodeHeader([TensorLayout(name: "w", dtype: .f32, shape: [parameters])], metadata: [:])
        let stepsFolder = folder + "/steps"
        try FileManager.default.createDirectory(atPath: stepsFolder, withIntermediateDirectories: true)
        var kept50: [Float] = []
        for step in 1...steps {
            ScaleBench.walk(&values, &state)
            ScaleBench.writeStep(stepsFolder + String(format: "/step-%08d.safetensors", step), header: header, values: values)
            if step == 50 { kept50 = values }
        }
        func ingest(_ db: String, policy: Bool) throws -> Double {
            try? FileManager.default.removeItem(atPath: db)
            var request = IngestRequest(logPath: db, inputs: [stepsFolder])
            request.tracks = [EMASpec(decay: 0.999), try EMASpec(parsing: "name=p,schedule=power,sigma_rel=0.1"),
                              try EMASpec(parsing: "name=p05,schedule=power,sigma_rel=0.05")]
            request.snapshotEvery = 50
            if policy {
                request.rawEvery = 50
                request.rawKeepLast = 20
            }
            let start = Date()
            _ = try Ingest.run(request)
            return Date().timeIntervalSince(start)
        }
        let full = folder + "/full.emalog", thin = folder + "/thin.emalog"
        let fullTime = try ingest(full, policy: false)
        let thinTime = try ingest(thin, policy: true)
        let fullSize = try size(full), thinSize = try size(thin)
        print("full log                          \(ByteCount.text(fullSize).padding(toLength: 10, withPad: " ", startingAt: 0)) ingest \(String(format: "%.2f s", fullTime))   1.00x")
        print("--raw-every 50 --raw-keep-last 20 \(ByteCount.text(thinSize).padding(toLength: 10, withPad: " ", startingAt: 0)) ingest \(String(format: "%.2f s", thinTime))   "
            + String(format: "%.1f%% of the size (goal <= 20%%), %.2fx the ingest time", 100 * Double(thinSize) / Double(fullSize), thinTime / fullTime))
        // prune against copying the file: each run on a fresh copy of the full log.
        let copyPath = folder + "/copy.emalog", prunedPath = folder + "/pruned.emalog"
        var copyTimes: [Double] = [], pruneTimes: [Double] = []
        var pruning: LogEdit.Pruning?
        for _ in 0..<3 {
            try? FileManager.default.removeItem(atPath: copyPath)
            var start = Date()
            try FileManager.default.copyItem(atPath: full, toPath: copyPath)
            copyTimes.append(Date().timeIntervalSince(start))
            try? FileManager.default.removeItem(atPath: prunedPath)
            try FileManager.default.copyItem(atPath: full, toPath: prunedPath)
            start = Date()
            pruning = try LogEdit.prune(log: prunedPath, rawEvery: 50, keepLast: 20, dryRun: false, arguments: ["bench"])
            pruneTimes.append(Date().timeIntervalSince(start))
        }
        let copy = copyTimes.sorted()[1], prune = pruneTimes.sorted()[1]
        print("copy the full log's file          \(String(format: "%7.3f s", copy))   1.00x")
        print("prune it to the policy            \(String(format: "%7.3f s", prune))   \(String(format: "%.2fx", prune / copy))"
            + "   (\(pruning!.stepsDropped) steps' raw weights left out, \(ByteCount.text(pruning!.reclaimedBytes)) of chunks; file "
            + "\(ByteCount.text(pruning!.sizeBefore)) -> \(ByteCount.text(pruning!.sizeAfter)))")
        // What was timed came back right.
        for step in stride(from: 50, through: steps, by: 50) {
            for track in ["ema-0.999", "p"] {
                try EMALog(openingAt: full).shadow(atStep: step, track: .nameOrSpec(track))
                    .write(to: folder + "/a.safetensors", format: .safetensors, precision: .f32)
                for other in [thin, prunedPath] {
                    try EMALog(openingAt: other).shadow(atStep: step, track: .nameOrSpec(track))
                        .write(to: folder + "/b.safetensors", format: .safetensors, precision: .f32)
                    try BenchCheck.sameTensors(folder + "/a.safetensors", folder + "/b.safetensors")
                }
            }
        }
        for log in [thin, prunedPath] {
            try EMALog(openingAt: log).writeRaw(atStep: 50, to: folder + "/raw.safetensors", format: .safetensors)
            try BenchCheck.tensor("w", of: folder + "/raw.safetensors", equals: kept50.withUnsafeBytes { Array($0) })
        }
        // A power-function EMA no track holds (sigma_rel 0.07): the exact replay on the full log
        // against EDM2's synthesis from the thinned log's two power tracks' snapshots.
        let target = EMALog.TrackSelector.nameOrSpec("schedule=power,sigma_rel=0.07")
        var exact: ShadowResult?, made: ShadowResult?
        let replayTime = try Measure.seconds { exact = try EMALog(openingAt: full).shadow(atStep: steps, track: target) }
        let synthesisTime = try Measure.seconds { made = try EMALog(openingAt: thin).shadow(atStep: steps, track: target) }
        guard let exact, let made, let synthesis = made.synthesis, exact.synthesis == nil else { fatalError("retention bench: no synthesis") }
        let tensor = exact.tensors.first { $0.dtype.isFloating }!
        let a = exact.withValues(of: tensor) { Array($0) }, b = made.withValues(of: tensor) { Array($0) }
        let norm = a.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        let distance = zip(a, b).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }.squareRoot()
        print("sigma_rel 0.07 by exact replay    \(String(format: "%7.3f s", replayTime))   1.00x")
        print("sigma_rel 0.07 by EDM2 synthesis  \(String(format: "%7.3f s", synthesisTime))   \(String(format: "%.2fx", synthesisTime / replayTime))"
            + "   (\(synthesis.inputs.count) snapshots; weights' relative L2 error to the replay \(String(format: "%.2e", distance / norm)), "
            + "profile fit error \(String(format: "%.2e", synthesis.relativeError)))")
    }

    static func size(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }
}
