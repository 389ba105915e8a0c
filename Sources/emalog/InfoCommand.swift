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
                var text = json ? Self.json(info, provenance: provenance, digest: content)
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
                    + "\(Self.hex(record.sourceHash))  ingest \(record.ingestID) at \(record.ingestedAt)")
            }
            return lines.joined(separator: "\n") + "\n"
        }

        static func hex(_ value: UInt64) -> String {
            let digits = String(value, radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }

        /// An argument as a POSIX shell would read it back.
        static func shellQuoted(_ argument: String) -> String {
            let plain = !argument.isEmpty && argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,:+@%".contains($0) }
            return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
        }

        /// A JSON value as parsed, written again (the configuration an ingest recorded).
        static func write(_ value: JSONValue, _ json: inout JSONWriter) {
            switch value {
            case .null: json.value(nil as Int?)
            case let .bool(b): json.value(b)
            case let .number(n): if n.isIntegerLiteral, let i = Int(n.text) { json.value(i) } else { json.value(Double(n.text)) }
            case let .string(s): json.value(s)
            case let .array(items): json.array { json in for item in items { write(item, &json) } }
            case let .object(members): json.object { json in for m in members { json.key(m.key); write(m.value, &json) } }
            }
        }

        static func provenanceJSON(_ i: LogInfo, _ json: inout JSONWriter) {
            json.object("provenance") { json in
                json.array("ingests") { json in
                    for ingest in i.ingests {
                        json.object { json in
                            json.field("id", Int(ingest.id))
                            json.field("started_at", ingest.startedAt)
                            json.field("emalog_version", ingest.emalogVersion)
                            json.field("arguments", ingest.arguments)
                            json.key("configuration")
                            if let parsed = try? JSONParser.parse(Array(ingest.configuration.utf8)) {
                                write(parsed, &json)
                            } else {
                                json.value(ingest.configuration)
                            }
                        }
                    }
                }
                for (key, record) in [("first_step", i.firstStepRecord), ("last_step", i.lastStepRecord)] {
                    json.key(key)
                    guard let record else { json.value(nil as Int?); continue }
                    json.object { json in
                        json.field("step", record.step)
                        json.field("ingest_id", Int(record.ingestID))
                        json.field("source_path", record.sourcePath)
                        json.field("source_size", record.sourceSize)
                        json.field("source_xxh64", hex(record.sourceHash))
                        json.field("ingested_at", record.ingestedAt)
                        json.field("metadata", record.metadata)
                    }
                }
            }
        }

        static func json(_ i: LogInfo, provenance: Bool = false, digest: String? = nil) -> String {
            var json = JSONWriter()
            json.object { json in
                json.field("path", i.path)
                json.field("log_id", i.logID)
                if let digest { json.field("content_sha256", digest) }
                json.field("steps", i.stepCount)
                json.field("first_step", i.firstStep)
                json.field("last_step", i.lastStep)
                json.field("tensors", i.tensorCount)
                json.field("parameters", i.parameterCount)
                json.field("bytes_per_step", i.bytesPerStep)
                json.array("tracks") { json in
                    for t in i.tracks {
                        json.object { json in
                            json.field("name", t.name)
                            json.field("spec", t.spec)
                            json.field("snapshot_steps", t.snapshotSteps)
                        }
                    }
                }
                json.field("snapshots", i.snapshotCount)
                json.field("owed_snapshots", i.owedSnapshotCount)
                json.field("metric_keys", i.metricKeys)
                json.field("metric_values", i.metricValueCount)
                json.field("ingests", i.ingestCount)
                json.field("file_bytes", i.fileBytes)
                json.field("wal_bytes", i.walBytes)
                json.field("bytes_per_parameter_step", i.bytesPerParameterStep)
                json.array("codecs") { json in
                    for c in i.codecs {
                        json.object { json in
                            json.field("codec", c.codec)
                            json.field("chunks", c.chunks)
                            json.field("stored_bytes", c.storedBytes)
                            json.field("raw_bytes", c.rawBytes)
                        }
                    }
                }
                json.field("migrations", i.migrations)
                if provenance { provenanceJSON(i, &json) }
            }
            return json.text + "\n"
        }
    }
}
