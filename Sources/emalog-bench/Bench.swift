import EMAKernel
import EMALogCore
import EMALogFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// emalog-bench: figures and same-run ratios against baselines. Run `swift run -c release emalog-bench`.
@main
struct Bench {
    static func main() throws {
        let args = CommandLine.arguments
        let quick = args.contains("--quick")
        // `--only NAME` runs one section: kernel, codec, ingest, metrics, steps, tensors, retention, long, large, pictures, team.
        let only = args.firstIndex(of: "--only").flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
        func section(_ name: String) -> Bool { only == nil || only == name }
        print("emalog-bench \(EMALogCore.version) (medians of \(Measure.runs) runs; release build expected)")
        if section("kernel") { try KernelBench.run(elements: quick ? 4 << 20 : 32 << 20) }
        if section("codec") { CodecBench.run(elements: quick ? 1 << 18 : 1 << 20) }
        if section("ingest") { try IngestBench.run(steps: quick ? 20 : 100, parameters: quick ? 250_000 : 1_000_000) }
        if section("metrics") { try ScaleBench.metrics(lines: quick ? 10_000 : 100_000, quick: quick) }
        if section("steps") { try ScaleBench.manySteps(rounds: 10, perRound: quick ? 100 : 1000, parameters: 4096) }
        if section("tensors") { try TensorCountBench.run(counts: quick ? [1000, 10000] : [1000, 10000, 100_000]) }
        if section("retention") { try RetentionBench.run(steps: 400, parameters: quick ? 50_000 : 250_000) }
        if section("long") { try LongRunBench.run(steps: quick ? 10_000 : 100_000) }
        if section("large") { try LargeStepBench.run(stepBytes: quick ? 256 << 20 : 1 << 30, steps: 3) }
        if section("team") { try TeamBench.run(steps: quick ? 10 : 40, parameters: quick ? 1 << 20 : 4 << 20, killTrials: quick ? 5 : 20) }
        if section("pictures") { try PictureBench.run(steps: quick ? 20 : 100, parameters: quick ? 1 << 20 : 4 << 20, points: quick ? 100_000 : 1_000_000) }
    }
}

/// Timing helpers: medians of several runs.
enum Measure {
    static let runs = 5

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        var times: [Double] = []
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return times.sorted()[runs / 2]
    }

    static func gbps(_ bytes: Int, _ seconds: Double) -> String { String(format: "%6.2f GB/s", Double(bytes) / seconds / 1e9) }
}

enum KernelBench {
    /// EMA bytes: 12 per element per track (read θ and shadow, write shadow); memcpy: 2x the bytes copied.
    static func run(elements n: Int) throws {
        print("\n## EMA kernel, \(n / (1 << 20))M floats (\((n * 4) >> 20) MiB per buffer)")
        let theta = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let copy = UnsafeMutablePointer<Float>.allocate(capacity: n)
        let shadows = (0..<3).map { _ in UnsafeMutablePointer<Float>.allocate(capacity: n) }
        for i in 0..<n { theta[i] = Float(i % 1000) * 1e-3 }
        for s in shadows { s.initialize(from: theta, count: n) }
        copy.initialize(repeating: 0, count: n)
        let memcpyTime = Measure.seconds { memcpy(copy, theta, n * 4) }
        let memcpyRate = Double(2 * 4 * n) / memcpyTime
        print("memcpy                          \(Measure.gbps(2 * 4 * n, memcpyTime))   1.00x")
        for form in EMASpec.Form.allCases {
            let c = EMA.Coefficients(decay: 0.999, form: form)
            let t = Measure.seconds { EMA.update(shadows: [shadows[0]], toward: UnsafeRawPointer(theta), dtype: .f32, count: n, coefficients: [c]) }
            let rate = Double(12 * n) / t
            print("update, 1 track, form=\(form.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0))    \(Measure.gbps(12 * n, t))   \(String(format: "%.2fx", rate / memcpyRate))")
        }
        let c = EMA.Coefficients(decay: 0.999, form: .seed)
        let t3 = Measure.seconds { EMA.update(shadows: shadows, toward: UnsafeRawPointer(theta), dtype: .f32, count: n, coefficients: [c, c, c]) }
        print("update, 3 tracks one pass       \(Measure.gbps(3 * 12 * n, t3))   \(String(format: "%.2fx", Double(36 * n) / t3 / memcpyRate))")
        theta.deallocate(); copy.deallocate(); shadows.forEach { $0.deallocate() }
    }
}
