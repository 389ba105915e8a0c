import ArgumentParser
import EMALogCore
import Foundation

/// Flags `plot` and `report` share: the logs and how metric curves are drawn.
struct PictureOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A log file (repeatable: several logs are drawn side by side).", valueName: "log"))
    var db: [String] = []

    @Option(help: ArgumentHelp("A metric key (repeatable; default: every key, up to 24).", valueName: "key"))
    var key: [String] = []

    @Option(help: ArgumentHelp("Smoothing weight in [0, 1) for metric curves, TensorBoard's debiased EMA: raw values "
        + "are drawn faint beneath the smoothed curve; 0 draws the raw values alone.", valueName: "w"))
    var smooth: Double?

    /// The smoothing weight, 0.9 unless given.
    var smoothing: Double { smooth ?? 0.9 }

    @Flag(help: "A logarithmic y axis for metric curves (values <= 0 are left out and counted).")
    var logY = false

    @Option(help: ArgumentHelp("Measure the track distance over this tensor only (default: every floating tensor).",
                               valueName: "name"))
    var tensor: String?

    @Option(help: ArgumentHelp("Width of each picture in pixels.", valueName: "px"))
    var width = 960

    func validate() throws {
        if db.isEmpty { throw ValidationError("give at least one --db") }
        if let smooth, !(smooth >= 0 && smooth < 1) { throw ValidationError("--smooth must be in [0, 1), got \(smooth)") }
        // The same log twice would draw one curve over the other under one name.
        let resolved = db.map { path in URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path }
        if let twice = resolved.indices.first(where: { resolved[..<$0].contains(resolved[$0]) }) {
            let first = db[resolved.firstIndex(of: resolved[twice])!]
            throw ValidationError("--db \(db[twice]) is given twice" + (first == db[twice] ? "" : " (also as \(first))") + ": give each log once")
        }
        if !(320...10_000).contains(width) { throw ValidationError("--width must be between 320 and 10000, got \(width)") }
    }

    var labels: [String] { Plots.runLabels(db) }
}

extension EMALogCommand {
    struct PlotCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plot",
            abstract: "Draw metric curves, or how each EMA follows the weights, as an SVG picture.",
            usage: """
                emalog plot --db <log> [--db <log> ...] [--key <key> ...] [--smooth <w>] [--log-y]
                            [--from <step>] [--to <step>] [--width <px>] -o <out.svg>
                emalog plot --db <log> --tracks [--tensor <name>] [--ema <spec> ...] -o <out.svg>
                """,
            discussion: """
                Metric curves: one panel per key against step, each log in its own colour, the raw values \
                faint and the smoothed curve solid. A long history keeps its shape: each pixel column \
                draws the first, lowest, highest and last value it covers.

                --tracks: for each EMA track (and each --ema), the relative distance ||shadow - θ|| / ||θ|| \
                after every step, and the decay applied at each update, from one replay of the raw steps \
                (progress on a terminal). With --key as well, both are drawn.

                The picture is written by emalog itself (no browser needed); -o - writes it to stdout, \
                and a regular file is replaced atomically. The name must end in .svg.

                Examples:
                  emalog plot --db run.emalog --key loss --key eval/acc -o loss.svg
                  emalog plot --db run.emalog --key loss --smooth 0.99 --log-y --from 1000 -o loss.svg
                  emalog plot --db a.emalog --db b.emalog --key loss -o compare.svg
                  emalog plot --db run.emalog --tracks -o tracks.svg
                  emalog plot --db run.emalog --tracks --tensor fc1.weight --ema 0.9999 -o fc1.svg
                """)

        @OptionGroup var pictures: PictureOptions

        @Flag(help: "Draw each EMA's distance to the weights and its decay per step.")
        var tracks = false

        @Option(help: ArgumentHelp("With --tracks, also an EMA that is not tracked (a spec, computed post hoc; repeatable).",
                                   valueName: "spec"))
        var ema: [String] = []

        @Option(help: ArgumentHelp("First step drawn (inclusive).", valueName: "step")) var from: Int?
        @Option(help: ArgumentHelp("Last step drawn (inclusive).", valueName: "step")) var to: Int?

        @Option(help: ArgumentHelp("Height of each panel's plot area in pixels.", valueName: "px"))
        var height = 260

        @Option(help: ArgumentHelp("A title above the panels (default: the logs' names).", valueName: "text"))
        var title: String?

        @Option(name: .shortAndLong, help: ArgumentHelp("Output file (.svg), or - for stdout.", valueName: "out"))
        var out: String

        func validate() throws {
            if let from, from < 0 { throw ValidationError("--from must be a step >= 0, got \(from)") }
            if let to, to < 0 { throw ValidationError("--to must be a step >= 0, got \(to)") }
            if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to)") }
            if !(80...4_000).contains(height) { throw ValidationError("--height must be between 80 and 4000, got \(height)") }
            if !tracks && !ema.isEmpty { throw ValidationError("--ema adds an EMA to --tracks: pass --tracks too") }
            if !tracks && pictures.tensor != nil { throw ValidationError("--tensor chooses what --tracks measures: pass --tracks too") }
            if tracks && pictures.key.isEmpty && (pictures.smooth != nil || pictures.logY) {
                throw ValidationError("--smooth and --log-y shape metric curves, and --tracks alone draws none: add --key K")
            }
        }

        func run() throws {
            try reportingErrors {
                let logs = try pictures.db.map { try EMALog(openingAt: $0) }
                let target = try EMALog.documentOutput(to: out, extensions: ["svg"], protecting: logs)
                var request = PlotRequest(labels: pictures.labels)
                request.keys = pictures.key
                request.smoothing = pictures.smoothing
                request.logY = pictures.logY
                (request.from, request.to) = (from, to)
                request.tracks = tracks
                request.extraTracks = ema
                request.tensor = pictures.tensor
                (request.width, request.plotHeight, request.title) = (pictures.width, height, title)
                let svg = try EMALog.plot(logs, request, observer: TerminalProgress())
                TerminalProgress.clear()
                try target.write(text: svg)
            }
        }
    }
}
