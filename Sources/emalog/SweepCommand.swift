import ArgumentParser
import EMAKernel
import EMALogCore
import Foundation

extension EMALogCommand {
    struct Sweep: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compute several EMAs at one step in a single pass; one file per EMA.",
            discussion: """
                Writes DIR/<track-name>-step-<S>.safetensors for each decay or spec.
                Examples:
                  emalog sweep --db run.emalog --decays 0.99,0.999,0.9999 --step 5000 -o sweep/
                  emalog sweep --db run.emalog --ema 0.999 --ema name=w,decay=0.9999,schedule=warmup -o sweep/
                """)

        @OptionGroup var log: LogOptions
        @OptionGroup var step: StepOptions
        @OptionGroup var output: OutputOptions

        @Option(help: ArgumentHelp("Comma-separated constant decays.", valueName: "a,b,c"))
        var decays: String?

        @Option(help: ArgumentHelp("An EMA spec (repeatable).", valueName: "spec"))
        var ema: [String] = []

        @Option(help: ArgumentHelp("f32 or param.", valueName: "dtype"))
        var dtype: ShadowResult.Precision = .f32

        @Option(name: .shortAndLong, help: ArgumentHelp("Output folder (created if missing).", valueName: "dir"))
        var out: String

        func specs() throws -> [EMASpec] {
            var texts = ema
            if let decays { texts += decays.split(separator: ",").map { String($0) } }
            return try texts.map { text in
                do { return try EMASpec(parsing: text) } catch { throw ValidationError("\(error)") }
            }
        }

        func validate() throws {
            let all = try specs()
            guard !all.isEmpty else { throw ValidationError("give --decays a,b,c or --ema SPEC") }
            let names = all.map(\.name)
            guard Set(names).count == names.count else { throw ValidationError("two EMAs share a name: give each a name=") }
        }

        func run() throws {
            try reportingErrors {
                let results = try EMALog(openingAt: log.db).sweep(try specs(), atStep: step.step, observer: TerminalProgress())
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                let format = output.format ?? .safetensors
                for result in results {
                    let name = "\(result.spec.name)-step-\(result.step).\(format.rawValue)"
                    try result.write(to: (out as NSString).appendingPathComponent(name), format: format, precision: dtype)
                }
                TerminalProgress.clear()
            }
        }
    }
}
