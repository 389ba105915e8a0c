import ArgumentParser
import EMALogCore
import EMALogFormats
import Foundation

extension EMALogCommand {
    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarise a log: steps, tensors, tracks, snapshots, metrics, size.",
            discussion: """
                Examples:
                  emalog info --db run.emalog
                  emalog info --db run.emalog --json
                """)

        @OptionGroup var log: LogOptions
        @Flag(help: "Print one JSON object instead of text.") var json = false

        func run() throws {
            try reportingErrors {
                let info = try EMALog(openingAt: log.db).info()
                let text = json ? Self.json(info) : Self.text(info)
                FileHandle.standardOutput.write(Data(text.utf8))
            }
        }

        static func text(_ i: LogInfo) -> String {
            var lines = ["log          \(i.path) (id \(i.logID))"]
            if let first = i.firstStep, let last = i.lastStep {
                lines.append("steps        \(i.stepCount) (\(first) ... \(last))")
            } else {
                lines.append("steps        0")
            }
            lines.append("tensors      \(i.tensorCount), \(i.parameterCount) floating parameters, \(i.bytesPerStep) bytes per step")
            lines.append("tracks       \(i.tracks.count)")
            for t in i.tracks {
                let snaps = t.snapshotSteps.count <= 6 ? t.snapshotSteps.map(String.init).joined(separator: ", ")
                    : t.snapshotSteps.prefix(3).map(String.init).joined(separator: ", ") + ", ..., "
                    + t.snapshotSteps.suffix(2).map(String.init).joined(separator: ", ")
                lines.append("  \(t.name)  \(t.spec)  snapshots: \(t.snapshotSteps.count) [\(snaps)]")
            }
            lines.append("snapshots    \(i.snapshotCount) (\(i.snapshotChunkBytes) bytes)")
            lines.append("metrics      \(i.metricKeys.count) keys, \(i.metricValueCount) values"
                + (i.metricKeys.isEmpty ? "" : ": " + i.metricKeys.prefix(12).joined(separator: ", ") + (i.metricKeys.count > 12 ? ", ..." : "")))
            lines.append("ingests      \(i.ingestCount)")
            lines.append("on disk      \(i.fileBytes + i.walBytes) bytes (file \(i.fileBytes), WAL \(i.walBytes)); raw chunks \(i.rawChunkBytes) bytes")
            if let b = i.bytesPerParameterStep { lines.append(String(format: "per param-step %.3f bytes", b)) }
            for c in i.codecs where c.rawBytes > 0 {
                lines.append("  " + c.codec.padding(toLength: 13, withPad: " ", startingAt: 0)
                    + String(format: "%7d chunks %12d bytes, %5.1f%% of their raw bytes", c.chunks, c.storedBytes,
                             100 * Double(c.storedBytes) / Double(c.rawBytes)))
            }
            lines.append("schema       \(i.migrations.joined(separator: ", "))")
            return lines.joined(separator: "\n") + "\n"
        }

        static func json(_ i: LogInfo) -> String {
            let tracks = i.tracks.map { t in
                "{\"name\":\(JSONWriter.quoted(t.name)),\"spec\":\(JSONWriter.quoted(t.spec)),\"snapshot_steps\":[\(t.snapshotSteps.map(String.init).joined(separator: ","))]}"
            }
            let fields: [String] = [
                "\"path\":\(JSONWriter.quoted(i.path))", "\"log_id\":\(JSONWriter.quoted(i.logID))",
                "\"steps\":\(i.stepCount)", "\"first_step\":\(i.firstStep.map(String.init) ?? "null")",
                "\"last_step\":\(i.lastStep.map(String.init) ?? "null")", "\"tensors\":\(i.tensorCount)",
                "\"parameters\":\(i.parameterCount)", "\"bytes_per_step\":\(i.bytesPerStep)",
                "\"tracks\":[\(tracks.joined(separator: ","))]", "\"snapshots\":\(i.snapshotCount)",
                "\"metric_keys\":[\(i.metricKeys.map(JSONWriter.quoted).joined(separator: ","))]",
                "\"metric_values\":\(i.metricValueCount)", "\"ingests\":\(i.ingestCount)",
                "\"file_bytes\":\(i.fileBytes)", "\"wal_bytes\":\(i.walBytes)",
                "\"bytes_per_parameter_step\":\(i.bytesPerParameterStep.map { JSONWriter.number($0) } ?? "null")",
                "\"codecs\":[\(i.codecs.map { "{\"codec\":\(JSONWriter.quoted($0.codec)),\"chunks\":\($0.chunks),\"stored_bytes\":\($0.storedBytes),\"raw_bytes\":\($0.rawBytes)}" }.joined(separator: ","))]",
                "\"migrations\":[\(i.migrations.map(JSONWriter.quoted).joined(separator: ","))]",
            ]
            return "{" + fields.joined(separator: ",") + "}\n"
        }
    }
}
