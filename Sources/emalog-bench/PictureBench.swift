import EMAChart
import EMAKernel
import EMALogCore
import EMALogFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `plot` and `report`: the track diagnostics' replay against a plain replay of the same EMAs
/// (`sweep` to the last step), and a long metric history drawn against reading it.
enum PictureBench {
    static func run(steps: Int, parameters: Int, points: Int) throws {
        let folder = try ScaleBench.folder("pictures")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        print("\n## Pictures: \(steps) steps x \(parameters) float32 parameters, a metric of \(points) points")
        var values = (0..<parameters).map { Float($0 % 977) * 1e-3 - 0.5 }
        var state: UInt64 = 11
        let header = Safetensors.encodeHeader([TensorLayout(name: "w", dtype: .f32, shape: [parameters])], metadata: [:])
        try FileManager.default.createDirectory(atPath: folder + "/steps", withIntermediateDirectories: true)
        for step in 1...steps {
            ScaleBench.walk(&values, &state)
            var file = Data(header)
            values.withUnsafeBytes { file.append(contentsOf: $0) }
            try file.write(to: URL(fileURLWithPath: folder + String(format: "/steps/step-%08d.safetensors", step)))
        }
        // A noisy decaying loss, one value per step, with a few spikes.
        var metrics = ""
        metrics.reserveCapacity(points * 40)
        for step in 1...points {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let noise = Double(state >> 11) / Double(1 << 53) - 0.5
            let spike = step % 99_991 == 0 ? 3.0 : 0
            metrics += "{\"step\": \(step), \"loss\": \(2 * exp(-Double(step) / Double(points / 4)) + 0.1 * noise + spike)}\n"
        }
        try metrics.write(toFile: folder + "/metrics.jsonl", atomically: false, encoding: .utf8)
        let db = folder + "/bench.emalog"
        var request = IngestRequest(logPath: db, inputs: [folder + "/steps", folder + "/metrics.jsonl"])
        let specs = [EMASpec(decay: 0.999), try EMASpec(parsing: "name=w,decay=0.9999,schedule=warmup,form=lerp")]
        request.tracks = specs
        request.snapshotEvery = steps
        _ = try Ingest.run(request)
        let log = try EMALog(openingAt: db)

        // The baseline replays the same two EMAs post hoc (decays one ulp-ish apart, so no snapshot
        // short-cuts it) to the last step: what --tracks does, without measuring.
        let posthoc = [EMASpec(decay: 0.99901), try EMASpec(parsing: "name=w2,decay=0.99991,schedule=warmup,form=lerp")]
        let sweep = try Measure.seconds { _ = try log.sweep(posthoc, atStep: steps) }
        let tracks = try Measure.seconds { _ = try log.trackDiagnostics() }
        print("post-hoc replay of two EMAs to the last step     \(String(format: "%7.3f s", sweep))   1.00x")
        print("the same replay measuring every step (--tracks)  \(String(format: "%7.3f s", tracks))   \(String(format: "%.2fx", tracks / sweep))")

        var curve: MetricCurve?
        let read = try Measure.seconds { curve = try log.metricCurves(keys: ["loss"])[0] }
        var svg = ""
        let draw = Measure.seconds {
            let panels = Plots.metrics([("bench", [curve!])], smoothing: 0.9, logY: false)
            svg = Chart(panels: panels).svgDocument()
        }
        let drawn = svg.split(separator: "\"").first { $0.hasPrefix("M") }?.split(separator: " ").count ?? 0
        print("read the metric (\(points) points)                \(String(format: "%7.3f s", read))   1.00x")
        print("smooth + down-sample + write the SVG           \(String(format: "%7.3f s", draw))   \(String(format: "%.2fx", draw / read))"
            + "   \(svg.utf8.count / 1024) KiB, \(drawn / 2) points in the raw line (every point: \(points))")
        let page = try Measure.seconds {
            var options = ReportOptions()
            options.audit = false
            _ = ReportPage.html(try RunReport.gather([log], labels: ["bench"], options: options), options: options)
        }
        print("report without audit                            \(String(format: "%7.3f s", page))")
    }
}
