import ArgumentParser
import EMAKernel
import EMALogCore
import Foundation

extension EMALogCommand {
    struct Ingest: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add steps (safetensors files or folders) and metrics (.jsonl) to a log.",
            discussion: """
                Examples:
                  emalog ingest --db run.emalog --ema 0.999 --ema 0.9999 steps/ metrics.jsonl
                  emalog ingest --db run.emalog --ema name=timm,decay=0.9998,schedule=warmup,form=lerp steps/
                  emalog ingest --db run.emalog --follow steps/ metrics.jsonl   # while training runs
                """)

        @OptionGroup var log: LogOptions

        @Option(help: ArgumentHelp("An EMA track to maintain (repeatable): 0.999, or "
            + "name=slow,decay=0.9999,schedule=constant|warmup|tf|power,gamma=1,power=2/3,min=0,sigma_rel=0.05,"
            + "per=update|step,form=seed|lerp|sub.", valueName: "spec"))
        var ema: [String] = []

        @Option(help: ArgumentHelp("Snapshot the shadows whenever a step crosses a multiple of K.", valueName: "K"))
        var snapshotEvery = 1000

        @Option(help: ArgumentHelp("Store a raw step whole every K steps; the steps between are compressed residuals "
            + "against the previous ones (a query decodes at most K steps).", valueName: "K"))
        var keyframeEvery = 32

        @Flag(help: "Keep watching folders and metrics files until SIGINT/SIGTERM (training still running).")
        var follow = false

        @Option(help: ArgumentHelp("Seconds between scans with --follow.", valueName: "s"))
        var pollInterval = 0.2

        @Flag(help: "Overwrite stored steps or metrics that differ (later snapshots are re-derived).")
        var replace = false

        @Flag(help: "Store NaN/Inf weights instead of refusing the step.")
        var allowNonfinite = false

        @Option(help: .hidden) var chunkBytes = IngestRequest.defaultChunkBytes

        @Argument(help: ArgumentHelp("Safetensors files, folders of them, metrics .jsonl files.", valueName: "input"))
        var inputs: [String] = []

        func validate() throws {
            guard snapshotEvery > 0 else { throw ValidationError("--snapshot-every must be > 0") }
            guard keyframeEvery > 0 else { throw ValidationError("--keyframe-every must be > 0") }
            guard pollInterval.isFinite, (0.001...3600).contains(pollInterval) else {
                throw ValidationError("--poll-interval must be a number of seconds from 0.001 to 3600, not \(pollInterval)")
            }
            guard chunkBytes > 0, chunkBytes % 8 == 0, chunkBytes <= 64 << 20 else {
                throw ValidationError("--chunk-bytes must be a positive multiple of 8, at most 64 MiB")
            }
            guard !inputs.isEmpty else { throw ValidationError("give at least one input: safetensors files, folders, metrics .jsonl") }
            for spec in ema {
                do { _ = try EMASpec(parsing: spec) } catch { throw ValidationError("--ema: \(error)") }
            }
        }

        func run() throws {
            try reportingErrors {
                var request = IngestRequest(logPath: log.db, inputs: inputs)
                request.tracks = try ema.map { try EMASpec(parsing: $0) }
                request.snapshotEvery = snapshotEvery
                request.keyframeEvery = keyframeEvery
                request.follow = follow
                request.pollInterval = pollInterval
                request.replace = replace
                request.allowNonFinite = allowNonfinite
                request.chunkBytes = chunkBytes
                request.arguments = CommandLine.arguments
                if follow { StopSignal.install() }
                let report = try EMALogCore.Ingest.run(request, observer: TerminalProgress())
                TerminalProgress.clear()
                printError("ingest: " + report.summary + (report.interrupted ? " (stopped by signal)" : ""))
            }
        }
    }
}
