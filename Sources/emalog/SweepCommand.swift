import ArgumentParser
import EMAKernel
import EMALogCore
import Foundation

extension EMALogCommand {
    struct SweepCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sweep",
            abstract: "Compute several EMAs at one step in a single pass; one file per EMA.",
            usage: """
                emalog sweep --db <log> [--decays <a,b,c>] [--ema <spec> ...]
                             [--sigma-rels <a,b,c> [--synthesize]]
                             [--step <n>] [--dtype <dtype>] [--format <format>] -o <dir>
                """,
            discussion: """
                Writes DIR/<track-name>-step-<S>.safetensors (or .npz, .json with --format) for each decay \
                or spec. DIR is created if missing; a path that exists and is not a folder is refused \
                (exit 74). Each file is replaced atomically, and none is ever the log.

                Examples:
                  emalog sweep --db run.emalog --decays 0.99,0.999,0.9999 --step 5000 -o sweep/
                  emalog sweep --db run.emalog --ema 0.999 --ema name=w,decay=0.9999 -o sweep/
                """)

        @OptionGroup var log: LogOptions
        @OptionGroup var step: StepOptions

        @Option(help: ArgumentHelp("Comma-separated constant decays.", valueName: "a,b,c"))
        var decays: String?

        @Option(help: ArgumentHelp("An EMA spec (repeatable).", valueName: "spec"))
        var ema: [String] = []

        @Option(help: ArgumentHelp("Comma-separated σ_rel of power-function EMAs (EDM2): replayed exactly when the log "
            + "kept every raw step, else synthesised from the power tracks' snapshots.", valueName: "a,b,c"))
        var sigmaRels: String?

        @Flag(help: "Synthesise the power-function EMAs from the power tracks' snapshots (EDM2) even where a replay could.")
        var synthesize = false

        @OptionGroup var precision: PrecisionOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .shortAndLong, help: ArgumentHelp("Output folder (created if missing).", valueName: "dir"))
        var out: String

        /// The EMAs to compute; `sigmaRelSpec` makes each --sigma-rels value's spec (the log's power
        /// tracks' form when it runs).
        func specs(_ sigmaRelSpec: (Double) throws -> String = { "name=sigma-rel-\(EMASpec.format($0)),schedule=power,sigma_rel=\($0)" })
            throws -> [EMASpec] {
            var texts = ema
            if let decays { texts += decays.split(separator: ",").map { String($0) } }
            for text in sigmaRels?.split(separator: ",") ?? [] {
                guard let sigma = Double(text) else { throw ValidationError("--sigma-rels: '\(text)' is not a number") }
                texts.append(try sigmaRelSpec(sigma))
            }
            return try texts.map { text in
                do { return try EMASpec(parsing: text) } catch { throw ValidationError("\(error)") }
            }
        }

        func validate() throws {
            let all = try specs()
            guard !all.isEmpty else { throw ValidationError("give --decays a,b,c, --sigma-rels a,b,c or --ema SPEC") }
            let names = all.map(\.name)
            guard Set(names).count == names.count else { throw ValidationError("two EMAs share a name: give each a name=") }
            if out == "-" { throw ValidationError("-o - is stdout, but sweep writes one file per EMA: give -o a folder") }
        }

        func run() throws {
            try reportingErrors {
                let emalog = try EMALog(openingAt: log.db, run: log.run)
                TerminalProgress().warnIfOneRank(emalog)
                let folder = try emalog.outputFolder(at: out, format: output.format ?? .safetensors)
                let results = try emalog.sweep(try specs(emalog.sigmaRelSpec), atStep: try emalog.step(step.selector), synthesize: synthesize,
                                               observer: TerminalProgress())
                TerminalProgress.clear()
                for result in results {
                    guard let synthesis = result.synthesis else { continue }
                    printError("synthesised \(result.spec.name) from \(synthesis.inputs.count) snapshots (EDM2 post-hoc EMA), "
                        + "relative fit error " + String(format: "%.2e", synthesis.relativeError))
                }
                try folder.write(results, precision: precision.dtype)
            }
        }
    }
}
