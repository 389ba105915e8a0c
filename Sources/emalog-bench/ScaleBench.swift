import EMAKernel
import EMALogCore
import EMALogFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Post-hoc replay against its baseline, metrics ingest and queries, and per-step ingest time over
/// many steps of a small model.
enum ScaleBench {
    static func folder(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("emalog-bench-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// The baseline of a post-hoc replay: read every uncompressed step file and run the same EMA
    /// update (what a numpy loop over safetensors files does). `steps` holds the files.
    static func replayBaseline(stepsFolder: String, steps: Int, parameters: Int) -> Double {
        let shadow = UnsafeMutablePointer<Float>.allocate(capacity: parameters)
        defer { shadow.deallocate() }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: parameters * 4 + (1 << 16), alignment: 64)
        defer { buffer.deallocate() }
        return Measure.seconds {
            for step in 1...steps {
                let fd = open(stepsFolder + String(format: "/step-%08d.safetensors", step), O_RDONLY)
                var headerLength: UInt64 = 0
                _ = read(fd, &headerLength, 8)
                _ = lseek(fd, off_t(8 + headerLength), SEEK_SET)
                var got = 0
                while got < parameters * 4 {
                    let n = read(fd, buffer + got, parameters * 4 - got)
                    if n <= 0 { break }
                    got += n
                }
                close(fd)
                if step == 1 {
                    shadow.update(from: buffer.assumingMemoryBound(to: Float.self), count: parameters)
                } else {
                    EMA.update(shadows: [shadow], toward: UnsafeRawPointer(buffer), dtype: .f32, count: parameters,
                               coefficients: [EMA.Coefficients(decay: 0.995, form: .seed)])
                }
            }
        }
    }

    /// 1M metric values (lines of 10 keys) ingested, then a 10k-point history read back.
    static func metrics(lines: Int) throws {
        let dir = try folder("metrics")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        print("\n## Metrics, \(lines) lines x 10 keys")
        var text = ""
        text.reserveCapacity(lines * 400)
        var state: UInt64 = 3
        for step in 1...lines {
            text += "{\"step\": \(step)"
            for k in 0..<10 {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                text += ", \"train/metric_\(k)\": \(Double(state >> 11) / Double(1 << 53))"
            }
            text += "}\n"
        }
        let path = dir + "/metrics.jsonl"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        var count = 0
        var db = ""
        let ingest = try Measure.seconds {
            count += 1
            db = dir + "/m-\(count).emalog"
            _ = try Ingest.run(IngestRequest(logPath: db, inputs: [path]))
        }
        let values = Double(lines * 10)
        print("metrics ingest                   \(String(format: "%7.2f M values/s", values / ingest / 1e6))   (\(String(format: "%.3f s", ingest)))")
        let log = try EMALog(openingAt: db)
        let points = min(10_000, lines)
        let query = try Measure.seconds { _ = try log.metrics(keys: ["train/metric_3"], from: 1, to: points) }
        print("metrics query, \(points) points      \(String(format: "%7.4f s", query))")
    }

    /// Many steps of a small model, ingested in rounds of `perRound` (each a resumed ingest): the
    /// time per step should not grow with the steps already stored.
    static func manySteps(rounds: Int, perRound: Int, parameters: Int) throws {
        let dir = try folder("many")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        print("\n## \(rounds * perRound) steps of a \(parameters)-parameter model, ingested \(perRound) at a time")
        var values = (0..<parameters).map { Float($0 % 977) * 1e-3 - 0.5 }
        var state: UInt64 = 11
        let header = Safetensors.encodeHeader([TensorLayout(name: "w", dtype: .f32, shape: [parameters])], metadata: [:])
        let db = dir + "/many.emalog"
        var perStep: [Double] = []
        for round in 0..<rounds {
            let roundFolder = dir + "/round-\(round)"
            try FileManager.default.createDirectory(atPath: roundFolder, withIntermediateDirectories: true)
            for k in 1...perRound {
                for i in values.indices {
                    state = state &* 6364136223846793005 &+ 1442695040888963407
                    values[i] += Float(Int64(bitPattern: state) >> 44) * 1e-9
                }
                let step = round * perRound + k
                var bytes = header
                values.withUnsafeBytes { bytes.append(contentsOf: $0) }
                try Data(bytes).write(to: URL(fileURLWithPath: roundFolder + String(format: "/step-%08d.safetensors", step)))
            }
            var request = IngestRequest(logPath: db, inputs: [roundFolder])
            request.tracks = [EMASpec(decay: 0.999)]
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try Ingest.run(request)
            perStep.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6 / Double(perRound))
            try FileManager.default.removeItem(atPath: roundFolder)
        }
        let shown = [0, rounds / 2, rounds - 1]
        for r in shown {
            print("steps \(String(format: "%5d", r * perRound + 1))-\(String(format: "%-5d", (r + 1) * perRound))  \(String(format: "%6.3f ms/step", perStep[r]))")
        }
        print(String(format: "last / first round                 %.2fx", perStep[rounds - 1] / perStep[0]))
    }
}
