import ArgumentParser
import EMALogCore

extension EMALogCommand {
    struct ReportCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "report",
            abstract: "Write a one-page HTML report of one or several logs.",
            usage: """
                emalog report --db <log> [--db <log> ...] [--key <key> ...] [--smooth <w>] [--log-y]
                              [--tensor <name>] [--no-tracks] [--no-audit] [--width <px>] -o <out.html>
                """,
            discussion: """
                One self-contained page, readable offline: the run summary (steps, tensors, parameters, \
                tracks, snapshots, bytes per param-step, provenance), the audit's verdict, a chart per \
                metric key, each EMA's distance to the weights and decay per step, and the metrics table \
                with every value as a CSV download. With several logs, the summary has a column per log \
                and each key's curves are overlaid.

                The page loads nothing: no scripts, styles, fonts or images from anywhere (its \
                Content-Security-Policy forbids it), and every text from a log is escaped. The audit and \
                the track replay each read every raw step once; --no-audit and --no-tracks skip them.

                Examples:
                  emalog report --db run.emalog -o run.html
                  emalog report --db a.emalog --db b.emalog --key loss --key eval/acc -o compare.html
                  emalog report --db big.emalog --no-audit --tensor head.weight -o big.html
                """)

        @OptionGroup var pictures: PictureOptions

        @Flag(help: "Leave out the track panels (no replay).")
        var noTracks = false

        @Flag(help: "Leave out the audit (no check of every chunk and snapshot).")
        var noAudit = false

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file (.html), or - for stdout.", valueName: "out"))
        var out: String

        func validate() throws {
            if noTracks && pictures.tensor != nil { throw ValidationError("--tensor chooses what the track panels measure: drop --no-tracks") }
        }

        func run() throws {
            try reportingErrors {
                let logs = try pictures.db.map { try EMALog(openingAt: $0) }
                let target = try EMALog.documentOutput(to: out, extensions: ["html", "htm"], protecting: logs)
                var options = ReportOptions()
                options.keys = pictures.key
                options.smoothing = pictures.smoothing
                options.logY = pictures.logY
                options.tracks = !noTracks
                options.tensor = pictures.tensor
                options.audit = !noAudit
                options.width = pictures.width
                let observer = TerminalProgress()
                let runs = try RunReport.gather(logs, labels: pictures.labels, options: options, observer: observer)
                TerminalProgress.clear()
                try target.write(text: ReportPage.html(runs, options: options))
            }
        }
    }
}
