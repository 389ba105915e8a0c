import ArgumentParser
import EMAKernel
import EMALogCore
import Foundation

extension EMALogCommand {
    struct IngestCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ingest",
            abstract: "Add steps (safetensors files or folders) and metrics (.jsonl) to a log.",
            usage: "emalog ingest --db <log> [--ema <spec> ...] [<options>] <input> ...",
            discussion: """
                A folder means every *.safetensors in it, in step order (names ending in .tmp are \
                ignored). The step comes from __metadata__["step"], else from the last run of digits in \
                the file name. Stored tracks always continue; a new --ema track is caught up from the \
                log's first step. With --follow, the folders and metrics files are watched until \
                SIGINT or SIGTERM, while training runs. With --raw-every K every step still updates \
                every track, but only the first step, multiples of K, the last N (--raw-keep-last) and \
                pinned steps keep their raw weights; the policy is recorded and later ingests follow it.

                Examples:
                  emalog ingest --db run.emalog --ema 0.999 steps/ metrics.jsonl
                  emalog ingest --db run.emalog --ema decay=0.9998,schedule=warmup steps/
                  emalog ingest --db run.emalog --follow steps/ metrics.jsonl
                  emalog ingest --db run.emalog --raw-every 50 --raw-keep-last 20 steps/
                """)

        @OptionGroup var log: LogOptions

        @Option(help: ArgumentHelp("An EMA track to maintain (repeatable): a decay such as 0.999, or key=value "
            + "pairs such as name=slow,decay=0.9999,schedule=warmup,form=lerp. Keys: name, decay, schedule "
            + "(constant, warmup, tf, power), gamma, power, min, sigma_rel, clock (step, karras), per (update, step), "
            + "form (seed, lerp, sub).", valueName: "spec"))
        var ema: [String] = []

        @Option(help: ArgumentHelp("Snapshot the shadows whenever a step crosses a multiple of K (default: the "
            + "--raw-every interval when the log keeps raw steps by a policy, else 1000).", valueName: "K"))
        var snapshotEvery: Int?

        @OptionGroup var retention: RetentionOptions

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

        @Flag(help: ArgumentHelp("Delete each step file once its step is committed (or found identical), never "
            + "before; refused files and metrics files stay."))
        var removeIngested = false

        @Option(help: .hidden) var chunkBytes = IngestRequest.defaultChunkBytes

        @Option(help: ArgumentHelp("With `-`: what the stream comes from, recorded as each step's source and used in "
            + "messages (default: stdin).", valueName: "text"))
        var source: String?

        @Option(help: ArgumentHelp("With `-`: an open descriptor of the trainer's shared memory, whose slots `Z` records "
            + "name (the Python Logger passes it).", valueName: "fd"))
        var sharedMemoryFd: Int32?

        @Argument(help: ArgumentHelp("Safetensors files, folders of them, metrics .jsonl files; or `-` alone: a stream on stdin of records, each S and a safetensors frame or M and one metrics line.", valueName: "input"))
        var inputs: [String] = []

        func validate() throws {
            if inputs.contains("-") {
                guard inputs == ["-"] else { throw ValidationError("`-` (the stream on stdin) is the only input when given") }
                guard !follow else { throw ValidationError("--follow watches files; `-` already reads stdin until it closes") }
            } else if source != nil {
                throw ValidationError("--source names the stream on stdin: give it with `-` as the input")
            } else if sharedMemoryFd != nil {
                throw ValidationError("--shared-memory-fd is for the stream on stdin: give it with `-` as the input")
            }
            if let sharedMemoryFd, sharedMemoryFd < 3 {
                throw ValidationError("--shared-memory-fd must be an open descriptor past stdin, stdout and stderr (3 or more)")
            }
            if let source {
                guard !source.isEmpty, source.utf8.count <= 4096, !source.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    throw ValidationError("--source must be 1 to 4096 bytes of text without control characters")
                }
            }
            if let snapshotEvery { guard snapshotEvery > 0 else { throw ValidationError("--snapshot-every must be > 0") } }
            guard keyframeEvery > 0 else { throw ValidationError("--keyframe-every must be > 0") }
            guard pollInterval.isFinite, (0.001...3600).contains(pollInterval) else {
                throw ValidationError("--poll-interval must be a number of seconds from 0.001 to 3600, not \(pollInterval)")
            }
            guard chunkBytes > 0, chunkBytes % 8 == 0, chunkBytes <= 64 << 20 else {
                throw ValidationError("--chunk-bytes must be a positive multiple of 8, at most 64 MiB")
            }
            guard !inputs.isEmpty else { throw ValidationError("give at least one input: safetensors files, folders, metrics .jsonl") }
            var seen: [String: (text: String, spec: EMASpec)] = [:]
            for text in ema {
                let spec: EMASpec
                do { spec = try EMASpec(parsing: text) } catch { throw ValidationError("--ema: \(error)") }
                if let earlier = seen[spec.name], !earlier.spec.hasSameProfile(as: spec) {
                    throw ValidationError("--ema \(earlier.text) and --ema \(text) clash: both name track '\(spec.name)' "
                        + "but give different profiles (\(earlier.spec.canonical) vs \(spec.canonical)); give one "
                        + "of them another name=")
                }
                seen[spec.name] = (text, spec)
            }
        }

        func run() throws {
            try reportingErrors {
                var request = IngestRequest(logPath: log.db, inputs: inputs)
                request.tracks = try ema.map { try EMASpec(parsing: $0) }
                request.snapshotEvery = snapshotEvery
                request.rawEvery = retention.rawEvery
                request.rawKeepLast = retention.rawKeepLast
                request.keyframeEvery = keyframeEvery
                request.follow = follow
                request.pollInterval = pollInterval
                request.replace = replace
                request.allowNonFinite = allowNonfinite
                request.removeIngested = removeIngested
                request.chunkBytes = chunkBytes
                request.arguments = CommandLine.arguments
                // A live training feeds the stream: a duplicate metric value must not stop it.
                request.keepStoredMetrics = inputs == ["-"]
                request.streamSource = source
                request.sharedMemoryDescriptor = sharedMemoryFd
                if follow || inputs == ["-"] { StopSignal.install() }
                let report = try EMALogCore.Ingest.run(request, observer: TerminalProgress())
                TerminalProgress.clear()
                printError("ingest: " + report.summary + (report.interrupted ? " (stopped by signal)" : ""))
                for failure in report.removalFailures { printError("warning: could not delete \(failure)") }
            }
        }
    }
}
