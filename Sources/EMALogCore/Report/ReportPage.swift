import EMAChart
import EMAKernel
public import Foundation
import EMALogStore

/// `report`'s page: one self-contained HTML file (inline styles and SVG, the CSV as a data: link;
/// no script, and a Content-Security-Policy that forbids loading anything), readable offline and
/// safe to open whatever the logs hold: every text from a log is escaped.
public enum ReportPage {
    public static func html(_ runs: [RunReport], options: ReportOptions, generatedAt: Date = Date()) -> String {
        let title = "emalog report: " + runs.map(\.label).joined(separator: ", ")
        var body = "<header><h1>\(esc(Markup.clipped(title, to: 200)))</h1><p class=\"meta\">generated "
            + esc(ISO8601DateFormatter().string(from: generatedAt)) + " by emalog \(esc(EMALogCore.version))</p></header>\n"
        body += summary(runs)
        body += auditSection(runs)
        body += metricsSection(runs, options: options)
        body += tracksSection(runs, options: options)
        body += tablesSection(runs, options: options)
        return """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(esc(Markup.clipped(title, to: 200)))</title>
            <style>\(style)</style>
            </head>
            <body>
            \(body)</body>
            </html>

            """
    }

    static let style = """
        body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',Arial,sans-serif;margin:24px auto;\
        max-width:1000px;padding:0 16px;color:#222;background:#fff}h1{font-size:22px;margin:0}h2{font-size:18px;\
        margin:32px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:20px 0 6px}\
        .meta,.note{color:#666;font-size:13px}table{border-collapse:collapse;font-size:13px;margin:6px 0}\
        th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}td.num{text-align:right;\
        font-variant-numeric:tabular-nums}th{background:#f4f4f4}.ok{color:#067d3a;font-weight:600}\
        .bad{color:#b3261e;font-weight:600}.scroll{max-height:480px;overflow:auto;border:1px solid #eee}\
        code{font-size:12px;word-break:break-all}svg{max-width:100%;height:auto}a.download{font-size:13px}
        """

    static func esc(_ text: some StringProtocol) -> String { Markup.escape(text) }

    /// A number for people: 6 significant digits.
    static func short(_ v: Double) -> String {
        if !v.isFinite { return MetricsTable.number(v) }
        return String(format: "%.6g", v)
    }

    static func bytes(_ n: Int) -> String { ByteCount.text(n) }

    /// The summary: one column per log.
    static func summary(_ runs: [RunReport]) -> String {
        func row(_ name: String, _ cell: (RunReport) -> String) -> String {
            "<tr><th>\(esc(name))</th>" + runs.map { "<td>\(cell($0))</td>" }.joined() + "</tr>\n"
        }
        var out = "<section id=\"summary\"><h2>Run summary</h2><table>\n"
        out += "<tr><th></th>" + runs.map { "<th>\(esc(Markup.clipped($0.label, to: 80)))</th>" }.joined() + "</tr>\n"
        out += row("log") { "<code>\(esc($0.info.path))</code>" }
        out += row("log id") { "<code>\(esc($0.info.logID))</code>" }
        out += row("steps") { r in
            guard let first = r.info.firstStep, let last = r.info.lastStep else { return "0" }
            return "\(r.info.stepCount) (\(first) … \(last))"
        }
        if runs.contains(where: { $0.info.ranks != nil || $0.info.rank != nil }) {
            out += row("ranks") { r in
                r.info.ranks.map { "\($0) (a sharded training read whole)" } ?? r.info.rank.map { "rank \($0.rank) of \($0.ranks) alone" } ?? "1"
            }
        }
        out += row("tensors") { "\($0.info.tensorCount)" }
        out += row("parameters") { "\($0.info.parameterCount) floating (\(bytes($0.info.bytesPerStep)) per step)" }
        out += row("tracks") { r in
            r.info.tracks.isEmpty ? "none" : r.info.tracks.map {
                "<b>\(esc($0.name))</b> <code>\(esc($0.spec))</code>, \($0.snapshotSteps.count) snapshots"
            }.joined(separator: "<br>")
        }
        out += row("snapshots") { "\($0.info.snapshotCount) (\(bytes($0.info.snapshotChunkBytes)))" }
        out += row("metrics") { "\($0.info.metricKeys.count) keys, \($0.info.metricValueCount) values" }
        out += row("on disk") { "\(bytes($0.info.fileBytes + $0.info.walBytes))" }
        out += row("bytes per param-step") { $0.info.bytesPerParameterStep.map { String(format: "%.3f", $0) } ?? "–" }
        out += row("ingests") { r in
            guard let first = r.info.ingests.first else { return "0" }
            var text = "\(r.info.ingests.count); first \(esc(first.startedAt)) by emalog \(esc(first.emalogVersion)): <code>"
                + esc(Markup.clipped(first.arguments.joined(separator: " "), to: 400)) + "</code>"
            if let last = r.info.ingests.last, r.info.ingests.count > 1 {
                text += "<br>last \(esc(last.startedAt)): <code>" + esc(Markup.clipped(last.arguments.joined(separator: " "), to: 400)) + "</code>"
            }
            return text
        }
        out += row("first / last step files") { r in
            [r.info.firstStepRecord, r.info.lastStepRecord].compactMap { $0 }.map {
                "\($0.step): <code>\(esc(Markup.clipped($0.sourcePath, to: 300)))</code> (\($0.sourceSize) bytes, xxh64 "
                    + String(format: "%016llx", $0.sourceHash) + ")"
            }.joined(separator: "<br>")
        }
        return out + "</table></section>\n"
    }

    static func auditSection(_ runs: [RunReport]) -> String {
        var out = "<section id=\"audit\"><h2>Audit</h2>\n"
        for run in runs {
            out += runs.count > 1 ? "<h3>\(esc(run.label))</h3>" : ""
            guard let audit = run.audit else {
                out += "<p class=\"note\">\(esc(run.auditSkipped ?? "not run"))</p>\n"
                continue
            }
            let checked = "\(audit.stepsChecked) steps, \(audit.chunksVerified) chunks verified, "
                + "\(audit.snapshotsChecked) snapshots of \(audit.tracksChecked) tracks replayed bit for bit, "
                + "\(audit.ingestsChecked) ingests, " + String(format: "%.1f s", audit.seconds)
            if audit.isClean {
                out += "<p><span class=\"ok\">clean</span>: \(checked)</p>\n"
            } else {
                out += "<p><span class=\"bad\">\(audit.findings.count) finding\(audit.findings.count == 1 ? "" : "s")</span>: \(checked)</p>\n"
                out += "<table><tr><th>kind</th><th>step</th><th>tensor</th><th>detail</th></tr>\n"
                for finding in audit.findings.prefix(50) {
                    out += "<tr><td>\(esc(finding.kind.rawValue))</td><td>\(finding.step.map(String.init) ?? "")</td><td>"
                        + esc(finding.tensor ?? "") + "</td><td>" + esc(Markup.clipped(finding.detail, to: 400)) + "</td></tr>\n"
                }
                out += "</table>" + (audit.findings.count > 50 ? "<p class=\"note\">the first 50; `emalog audit` lists all</p>" : "") + "\n"
            }
        }
        return out + "</section>\n"
    }

    static func metricsSection(_ runs: [RunReport], options: ReportOptions) -> String {
        var out = "<section id=\"metrics\"><h2>Metrics</h2>\n"
        let keys = Plots.keys(runs.map(\.curves))
        guard !keys.isEmpty else { return out + "<p class=\"note\">no metrics</p></section>\n" }
        let drawn = options.keys.isEmpty ? Array(keys.prefix(options.maxCharts)) : keys
        if drawn.count < keys.count {
            out += "<p class=\"note\">\(drawn.count) of \(keys.count) keys drawn (the first in name order); "
                + "`emalog report --key K` chooses them; every key is in the tables below.</p>\n"
        }
        let panels = Plots.metrics(runs.map { run in (run.label, run.curves.filter { drawn.contains($0.key) }) },
                                   smoothing: options.smoothing, logY: options.logY)
        for (k, panel) in panels.enumerated() {
            out += Chart(panels: [panel], width: options.width, plotHeight: 240, idPrefix: "m\(k)").svg()
        }
        // Per key and run: how many values, the first and last, the lowest and highest and where.
        out += "<h3>Per key</h3><div class=\"scroll\"><table><tr><th>key</th>" + (runs.count > 1 ? "<th>run</th>" : "")
            + "<th>values</th><th>first</th><th>last</th><th>min (step)</th><th>max (step)</th></tr>\n"
        for key in keys {
            for run in runs {
                guard let curve = run.curves.first(where: { $0.key == key }) else { continue }
                var low: (Double, Int)?, high: (Double, Int)?
                for (step, v) in zip(curve.steps, curve.values) where !v.isNaN {
                    if low == nil || v < low!.0 { low = (v, step) }
                    if high == nil || v > high!.0 { high = (v, step) }
                }
                out += "<tr><td>\(esc(Markup.clipped(key, to: 120)))</td>" + (runs.count > 1 ? "<td>\(esc(run.label))</td>" : "")
                    + "<td class=\"num\">\(curve.values.count)</td>"
                    + "<td class=\"num\">\(curve.values.first.map(short) ?? "")</td><td class=\"num\">\(curve.values.last.map(short) ?? "")</td>"
                    + "<td class=\"num\">\(low.map { "\(short($0.0)) (\($0.1))" } ?? "")</td>"
                    + "<td class=\"num\">\(high.map { "\(short($0.0)) (\($0.1))" } ?? "")</td></tr>\n"
            }
        }
        return out + "</table></div></section>\n"
    }

    static func tracksSection(_ runs: [RunReport], options: ReportOptions) -> String {
        var out = "<section id=\"tracks\"><h2>EMA tracks</h2>\n"
        let measured = runs.compactMap { run in run.tracks.map { (run.label, $0) } }
        for run in runs where run.tracks == nil {
            out += "<p class=\"note\">\(runs.count > 1 ? esc(run.label) + ": " : "")\(esc(run.tracksSkipped ?? "no tracks"))</p>\n"
        }
        for run in runs {
            guard let through = run.tracks?.distancesThrough else { continue }
            out += "<p class=\"note\">\(runs.count > 1 ? esc(run.label) + ": " : "")the distances are replayed through step "
                + "\(through), then drawn at the tracks' snapshot steps: the log's retention policy left out raw weights after it; "
                + "the decays cover every step</p>\n"
        }
        guard !measured.isEmpty else { return out + "</section>\n" }
        out += "<p class=\"note\">How far each EMA lags the weights, and when it has warmed up: replayed from the raw steps.</p>\n"
        out += Chart(panels: Plots.tracks(measured), width: options.width, plotHeight: 240, idPrefix: "t").svg()
        return out + "</section>\n"
    }

    static func tablesSection(_ runs: [RunReport], options: ReportOptions) -> String {
        var out = "<section id=\"tables\"><h2>Metrics tables</h2>\n"
        for run in runs where !run.table.keys.isEmpty {
            out += runs.count > 1 ? "<h3>\(esc(run.label))</h3>\n" : ""
            let csv = run.table.csv
            let file = esc(String(run.label.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })) + "-metrics.csv"
            if csv.utf8.count <= options.maxEmbeddedCSV {
                out += "<p><a class=\"download\" download=\"\(file)\" href=\"data:text/csv;charset=utf-8;base64,"
                    + Data(csv.utf8).base64EncodedString() + "\">download every value as CSV</a> "
                    + "<span class=\"note\">(\(run.table.rows.count) steps, \(bytes(csv.utf8.count)))</span></p>\n"
            } else {
                out += "<p class=\"note\">The CSV (\(bytes(csv.utf8.count))) is too large to embed: "
                    + "<code>emalog metrics --db \(esc(run.info.path)) --format csv</code> writes it.</p>\n"
            }
            let rows = run.table.rows
            let shown: [Int] = rows.count <= options.maxTableRows ? Array(rows.indices)
                : Array(Set((0..<options.maxTableRows).map { $0 * (rows.count - 1) / (options.maxTableRows - 1) })).sorted()
            if shown.count < rows.count {
                out += "<p class=\"note\">\(shown.count) of \(rows.count) steps shown, evenly spaced; the CSV has all.</p>\n"
            }
            out += "<div class=\"scroll\"><table><tr><th>step</th>"
                + run.table.keys.map { "<th>\(esc(Markup.clipped($0, to: 60)))</th>" }.joined() + "</tr>\n"
            for i in shown {
                out += "<tr><td class=\"num\">\(rows[i].step)</td>"
                    + rows[i].values.map { "<td class=\"num\">\($0.map(short) ?? "")</td>" }.joined() + "</tr>\n"
            }
            out += "</table></div>\n"
        }
        return out + "</section>\n"
    }
}
