import ArgumentParser
import EMALogCore
import EMALogFormats
import Foundation
import EMALogStore

extension EMALogCommand {
    struct InfoCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "info",
            abstract: "Summarise a log: steps, tensors, tracks, snapshots, metrics, size.",
            discussion: """
                Examples:
                  emalog info --db run.emalog
                  emalog info --db run.emalog --json
                  emalog info --db run.emalog --provenance
                  emalog info --db run.emalog --digest
                  emalog info --db postgresql://me@db.lab:5432/runs --run base --digest

                --digest adds a SHA-256 of everything the log stores (every step's chunks as stored, \
                snapshots, metrics, the audit trail; it reads the whole log): a log, its pushed run and \
                a pulled copy have the same digest.
                """)

        @OptionGroup var log: LogOptions
        @Flag(help: "Print one JSON object instead of text.") var json = false
        @Flag(help: "Add the provenance: every ingest's time, version, command line and configuration; the first and last steps' sources.")
        var provenance = false
        @Flag(help: "Add a SHA-256 of the log's whole content (reads every stored byte).") var digest = false

        func run() throws {
            try reportingErrors {
                let emalog = try EMALog(openingAt: log.db, run: log.run)
                let info = try emalog.info()
                let content = digest ? try emalog.contentDigest() : nil
                var text = json ? try Self.json(info, provenance: provenance, digest: content)
                    : Self.text(info) + (provenance ? Self.provenanceText(info) : "")
                if let content, !json { text += "content      sha256:\(content)\n" }
                if json { FileHandle.standardOutput.write(Data(text.utf8)) } else { writeText(text) }
            }
        }

        static func text(_ i: LogInfo) -> String {
            var lines = ["log          \(i.path) (id \(i.logID))"]
            if let first = i.firstStep, let last = i.lastStep {
                lines.append("steps        \(i.stepCount) (\(first) ... \(last))")
            } else {
                lines.append("steps        0")
            }
            if let ranks = i.ranks { lines.append("ranks        \(ranks) (a sharded training read whole: the steps every rank has)") }
            if let of = i.rank {
                lines.append("rank         \(of.rank) of \(of.ranks): this log holds that rank's slices only; its folder reads the whole model")
            }
            lines.append("tensors      \(i.tensorCount), \(i.parameterCount) floating parameters, \(i.bytesPerStep) bytes per step")
            lines.append("tracks       \(i.tracks.count)")
            for t in i.tracks {
                let snaps = t.snapshotSteps.count <= 6 ? t.snapshotSteps.map(String.init).joined(separator: ", ")
                    : t.snapshotSteps.prefix(3).map(String.init).joined(separator: ", ") + ", ..., "
                    + t.snapshotSteps.suffix(2).map(String.init).joined(separator: ", ")
                lines.append("  \(t.name)  \(t.spec)  snapshots: \(t.snapshotSteps.count) [\(snaps)]")
            }
            lines.append("snapshots    \(i.snapshotCount) (\(i.snapshotChunkBytes) bytes)" + (i.owedSnapshotCount == 0 ? ""
                : "; \(i.owedSnapshotCount) owed: a replaced step took them away and the next ingest writes them again"))
            lines.append("metrics      \(i.metricKeys.count) keys, \(i.metricValueCount) values"
                + (i.metricKeys.isEmpty ? "" : ": " + i.metricKeys.prefix(12).joined(separator: ", ") + (i.metricKeys.count > 12 ? ", ..." : "")))
            lines.append("ingests      \(i.ingestCount)")
            if !i.pins.isEmpty {
                lines.append("pins         " + i.pins.prefix(12).map { "\($0.name) (step \($0.step))" }.joined(separator: ", ")
                    + (i.pins.count > 12 ? ", ..." : ""))
            }
            if let policy = i.retention {
                lines.append("retention    raw weights of the first step, every \(policy.rawEvery)th, "
                    + (policy.rawKeepLast > 0 ? "the last \(policy.rawKeepLast) " : "") + "and pinned steps (and snapshot steps in a log "
                    + "with integer tensors); \(i.rawStepCount) of \(i.stepCount) steps keep theirs")
            } else if i.rawStepCount < i.stepCount {
                lines.append("retention    \(i.rawStepCount) of \(i.stepCount) steps keep their raw weights")
            }
            lines.append("on disk      \(i.fileBytes + i.walBytes) bytes (file \(i.fileBytes), WAL \(i.walBytes)); raw chunks \(i.rawChunkBytes) bytes")
            if let projected = i.projectedBytesPer1000Steps {
                lines.append("projection   about \(ByteCount.text(projected)) per 1,000 more steps at "
                    + (i.retention.map { "this policy (every \($0.rawEvery)th raw step kept)" } ?? "this rate (every raw step kept)"))
            }
            if let b = i.bytesPerParameterStep { lines.append(String(format: "per param-step %.3f bytes", b)) }
            for c in i.codecs where c.rawBytes > 0 {
                lines.append("  " + c.codec.padding(toLength: 13, withPad: " ", startingAt: 0)
                    + String(format: "%7d chunks %12d bytes, %5.1f%% of their raw bytes", c.chunks, c.storedBytes,
                             100 * Double(c.storedBytes) / Double(c.rawBytes)))
            }
            lines.append("schema       \(i.migrations.joined(separator: ", "))")
            return lines.joined(separator: "\n") + "\n"
        }

        static func provenanceText(_ i: LogInfo) -> String {
            var lines = ["", "provenance"]
            for ingest in i.ingests {
                lines.append("  ingest \(ingest.id)  \(ingest.startedAt)  emalog \(ingest.emalogVersion)")
                lines.append("    command        \(ingest.arguments.map(Self.shellQuoted).joined(separator: " "))")
                lines.append("    configuration  \(ingest.configuration)")
            }
            for (label, record) in [("first step", i.firstStepRecord), ("last step ", i.lastStepRecord)] {
                guard let record else { continue }
                lines.append("  \(label)  \(record.step)  \(record.sourcePath)  \(record.sourceSize) bytes  xxh64 "
                    + "\(record.sourceHash.hex16)  ingest \(record.ingestID) at \(record.ingestedAt)")
            }
            return lines.joined(separator: "\n") + "\n"
        }

        /// An argument as a POSIX shell would read it back.
        static func shellQuoted(_ argument: String) -> String {
            let plain = !argument.isEmpty && argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,:+@%".contains($0) }
            return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }

        static func json(_ i: LogInfo, provenance: Bool = false, digest: String? = nil) throws -> String {
            try JSONEncoding.text(InfoDocument(info: i, digest: digest, provenance: provenance ? Provenance(i) : nil)) + "\n"
        }
    }
}
