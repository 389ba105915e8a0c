import EMALogFormats
import Foundation

/// Cost against the number of tensors (a mixture-of-experts checkpoint has 10k-100k): 3 steps of N
/// eight-float tensors through the CLI, ingest with one track, the tracked shadow, a post-hoc one.
/// Linear cost shows as a flat per-tensor-step figure down the table.
enum TensorCountBench {
    static func run(counts: [Int]) throws {
        print("\n## Tensor count: 3 steps of N tensors of 8 float32 values, via the CLI (whole process)")
        print("tensors    ingest   tracked shadow   post-hoc shadow   total    µs per tensor-step   total vs the first row (tensors vs the first row)")
        var first: Double?
        for count in counts {
            let dir = try ScaleBench.folder("tensors-\(count)")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let layouts = (0..<count).map { TensorLayout(name: "layers.\($0 / 64).experts.\($0 % 64).w", dtype: .f32, shape: [8]) }
            let header = Safetensors.encodeHeader(layouts, metadata: [:])
            var values = (0..<(count * 8)).map { Float($0 % 97) * 0.01 }
            try FileManager.default.createDirectory(atPath: dir + "/steps", withIntermediateDirectories: true)
            for step in 1...3 {
                for i in values.indices { values[i] += 0.001 }
                ScaleBench.writeStep(dir + String(format: "/steps/step-%08d.safetensors", step), header: header, values: values)
            }
            let db = dir + "/t.emalog"
            let ingest = try LargeStepBench.run(["ingest", "--db", db, "--ema", "name=t,decay=0.999", dir + "/steps"]).0
            let tracked = try LargeStepBench.run(["shadow", "--db", db, "--ema", "t", "-o", dir + "/s.safetensors"]).0
            let posthoc = try LargeStepBench.run(["shadow", "--db", db, "--decay", "0.9", "-o", dir + "/p.safetensors"]).0
            let total = ingest + tracked + posthoc
            let perTensorStep = total / Double(3 * count) * 1e6
            first = first ?? total
            print(String(format: "%7d  %7.2f s  %12.2f s  %14.2f s  %6.2f s  %17.1f  %10.1fx (%.0fx)", count, ingest, tracked, posthoc, total,
                         perTensorStep, total / first!, Double(count) / Double(counts[0])))
        }
    }
}
