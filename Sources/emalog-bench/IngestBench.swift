import EMAKernel
import EMALogCore
import EMALogFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

enum IngestBench {
    /// Ingest of a synthetic random-walk run against the cost a user pays anyway: writing the same
    /// steps as safetensors files with an fsync at the end. Then shadow queries.
    static func run(steps: Int, parameters: Int) throws {
        let folder = try ScaleBench.folder("ingest")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        print("\n## Ingest and queries, \(steps) steps x \(parameters) float32 parameters (\((parameters * 4 * steps) >> 20) MiB)")
        // A random walk (like training): each value moves by a small random amount every step.
        var values = (0..<parameters).map { Float($0 % 977) * 1e-3 - 0.5 }
        var state: UInt64 = 7
        let walk: [[Float]] = (1...steps).map { _ in
            ScaleBench.walk(&values, &state)
            return values
        }
        let header = Safetensors.encodeHeader([TensorLayout(name: "w", dtype: .f32, shape: [parameters])], metadata: [:])
        let stepsFolder = folder + "/steps"
        // Baseline: write the step files, fsync at the end.
        let write = try Measure.seconds {
            try? FileManager.default.removeItem(atPath: stepsFolder)
            try FileManager.default.createDirectory(atPath: stepsFolder, withIntermediateDirectories: true)
            var fds: [Int32] = []
            for step in 1...steps {
                let fd = open(stepsFolder + String(format: "/step-%08d.safetensors", step), O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                header.withUnsafeBytes { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
                walk[step - 1].withUnsafeBytes { _ = Glibc.write(fd, $0.baseAddress, $0.count) }
                fds.append(fd)
            }
            for fd in fds { fsync(fd); close(fd) }
        }
        let bytes = steps * parameters * 4
        let writeRate = Double(bytes) / write
        print("safetensors write + fsync        \(String(format: "%7.1f MB/s", writeRate / 1e6))   1.00x")
        var db = folder + "/bench.emalog"
        var count = 0
        let ingest = try Measure.seconds {
            count += 1
            db = folder + "/bench-\(count).emalog"
            var request = IngestRequest(logPath: db, inputs: [stepsFolder])
            request.tracks = [EMASpec(decay: 0.999), EMASpec(decay: 0.9999)]
            request.snapshotEvery = steps / 2
            _ = try Ingest.run(request)
        }
        print("emalog ingest, 2 tracks           \(String(format: "%7.1f MB/s", Double(bytes) / ingest / 1e6))   \(String(format: "%.2fx", Double(bytes) / ingest / writeRate))")
        let log = try EMALog(openingAt: db)
        let atSnapshot = try Measure.seconds { _ = try log.shadow(atStep: steps, track: .nameOrSpec("ema-0.999")) }
        let read = try Measure.seconds { try log.writeRaw(atStep: steps, to: folder + "/raw.safetensors", format: .safetensors) }
        print("shadow at a snapshot step         \(String(format: "%7.3f s", atSnapshot))   raw read+write of one step \(String(format: "%.3f s", read))")
        // What was timed came back right: the raw step read back is the step ingested, byte for byte.
        try BenchCheck.tensor("w", of: folder + "/raw.safetensors", equals: walk[steps - 1].withUnsafeBytes { Array($0) })
        for distance in [1, steps / 8, steps / 4, steps / 2 - 1] {
            let t = try Measure.seconds { _ = try log.shadow(atStep: steps / 2 + distance, track: .nameOrSpec("ema-0.999")) }
            print("shadow \(String(format: "%4d", distance)) steps after a snapshot  \(String(format: "%7.3f s", t))")
        }
        let posthoc = try Measure.seconds { _ = try log.shadow(atStep: steps, track: .decay(0.995)) }
        let baseline = ScaleBench.replayBaseline(stepsFolder: stepsFolder, steps: steps, parameters: parameters)
        print("replay baseline: read the files + EMA  \(String(format: "%7.3f s", baseline))   1.00x")
        print("post-hoc replay over \(steps) steps    \(String(format: "%7.3f s", posthoc))   \(String(format: "%.2fx", baseline / posthoc))")
        print(String(format: "bytes per param-step             %7.3f", try log.info().bytesPerParameterStep ?? 0))
    }
}
