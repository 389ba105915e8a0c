import ArgumentParser
import EMALogCore
import EMALogFormats
import EMALogStore

extension EMALogCommand {
    struct PruneCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune",
            abstract: "Keep only the raw steps a retention policy keeps, in an existing log; every EMA stays exact.",
            discussion: """
                The raw weights of every step that is not the first, a multiple of K, among the last N \
                or pinned are left out; each step's record, metrics and snapshots stay, so every tracked \
                shadow readable at a snapshot step stays bit-identical. Kept steps after dropped ones are \
                re-encoded (byte for byte the same once decoded), all in one transaction recorded in \
                the audit trail; then the file is compacted. The policy is recorded: later ingests \
                follow it. Steps after the tracks' latest snapshot keep their raw weights (the next \
                ingest replays them). A prune killed at any moment leaves the log as it was; run it \
                again. Under the log's ingest lock (75 while an ingest runs).

                Examples:
                  emalog prune --db run.emalog --raw-every 50 --raw-keep-last 20 --dry-run
                  emalog prune --db run.emalog --raw-every 50 --raw-keep-last 20
                """)

        @Option(name: .long, help: ArgumentHelp("The log file.", valueName: "log"))
        var db: String

        @OptionGroup var retention: RetentionOptions

        @Flag(help: "Report what the prune would reclaim, changing nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Output: text, or json (one object).", valueName: "format"))
        var format: ReportFormat = .text

        func validate() throws {
            guard retention.rawEvery != nil else { throw ValidationError("give --raw-every K: the interval of raw steps to keep") }
        }

        func run() throws {
            try reportingErrors {
                let done = try LogEdit.prune(log: db, rawEvery: retention.rawEvery!, keepLast: retention.rawKeepLast, dryRun: dryRun,
                                             arguments: CommandLine.arguments)
                if format == .json { return writeText(try JSONEncoding.text(done) + "\n") }
                var text = (dryRun ? "prune (dry run): would leave out" : "pruned: left out") + " the raw weights of \(done.stepsDropped) "
                    + "of \(done.steps) steps (\(done.stepsWithRaw) keep theirs), "
                    + "\(dryRun ? "reclaiming" : "reclaimed") \(ByteCount.text(done.reclaimedBytes)) of raw chunks; "
                    + "log \(ByteCount.text(done.sizeBefore)) -> \(dryRun ? "about " : "")\(ByteCount.text(done.sizeAfter))\n"
                if done.snapshotsWritten > 0 {
                    text += "wrote \(done.snapshotsWritten) snapshots at kept multiples of \(done.policy.rawEvery), so tracked EMAs read there\n"
                }
                if done.keptButGone > 0 {
                    text += "note: \(done.keptButGone) steps this policy keeps have no raw weights: an earlier policy left them out, "
                        + "and they do not come back\n"
                }
                if let protected = done.protectedAfter {
                    text += "note: steps after \(protected) keep their raw weights: the tracks' latest snapshot is at \(protected) "
                        + "(the next ingest replays from there)\n"
                }
                writeText(text)
            }
        }
    }
}
