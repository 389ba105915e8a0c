import FormatsTestSupport
import Foundation
import EMALogFormats

/// A deterministic synthetic training run (a random walk on a few tensors) written as step files.
public enum SyntheticRun {
    /// Writes `steps` files `step-%08d.safetensors` with about `parameters` Float32 values each into `folder`.
    public static func write(steps: ClosedRange<Int>, parameters: Int, to folder: String, seed: UInt64 = 1) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var state = seed
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state) >> 40) / Float(1 << 23)
        }
        let sizes = [parameters / 2, parameters / 3, parameters - parameters / 2 - parameters / 3]
        var weights = sizes.map { n in (0..<n).map { _ in next() } }
        for step in steps {
            var b = SafetensorsBuilder(step: step)
            for (i, n) in sizes.enumerated() {
                for j in 0..<n { weights[i][j] += 0.01 * next() }
                b.add("layer\(i).weight", shape: [n], floats: weights[i])
            }
            b.add("layer0.steps", dtype: .i64, shape: [], bytes: withUnsafeBytes(of: Int64(step).littleEndian) { Array($0) })
            try b.write(to: (folder as NSString).appendingPathComponent(String(format: "step-%08d.safetensors", step)))
        }
    }
}
