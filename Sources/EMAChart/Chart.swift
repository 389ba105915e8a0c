/// A line drawn in a panel: values against x (steps), in one colour.
public struct Series: Sendable {
    public enum Style: Sendable, Equatable {
        /// A solid line.
        case line
        /// A thin translucent line under the solid ones (raw values beneath a smoothed curve).
        case faint
    }

    public var name: String
    /// An index into `Chart.palette` (wraps around).
    public var color: Int
    public var style: Style
    /// Whether the legend lists it (a raw curve shares its smoothed twin's entry).
    public var inLegend: Bool
    public var xs: [Double]
    public var ys: [Double]

    public init(name: String, color: Int, style: Style = .line, inLegend: Bool = true, xs: [Double], ys: [Double]) {
        precondition(xs.count == ys.count, "one y per x")
        self.name = name
        self.color = color
        self.style = style
        self.inLegend = inLegend
        self.xs = xs
        self.ys = ys
    }
}

/// One plot: a title, axes and the series drawn against them.
public struct Panel: Sendable {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var yScale: AxisScale
    public var series: [Series]
    /// A line of small print under the title (what faint lines are, values the scale hides, ...).
    public var note: String?
    /// The steps the x axis spans (default: the series' own), so panels of one picture line up.
    public var xDomain: (Double, Double)?

    public init(title: String, xLabel: String = "step", yLabel: String, yScale: AxisScale = .linear,
                series: [Series], note: String? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.yScale = yScale
        self.series = series
        self.note = note
    }
}

/// Panels stacked in one SVG picture, drawn by emalog itself (no browser or tool needed).
///
/// The markup is meant to be read by tests as well as by eyes: each panel is a `g.panel`, its axes
/// `g.axis.x` / `g.axis.y` with `text.tick` labels, each series one `path.series` (`data-series`
/// its name), the legend `g.legend` with `text.legend-label` entries.
public struct Chart: Sendable {
    public var title: String?
    public var panels: [Panel]
    /// The picture's width in pixels; each panel's plot area is `plotHeight` high.
    public var width: Int
    public var plotHeight: Int
    /// Prefix of element ids, unique per chart when several share an HTML page.
    public var idPrefix: String

    public init(title: String? = nil, panels: [Panel], width: Int = 960, plotHeight: Int = 260, idPrefix: String = "c") {
        self.title = title
        self.panels = panels
        self.width = max(320, min(width, 10_000))
        self.plotHeight = max(80, min(plotHeight, 4_000))
        self.idPrefix = idPrefix
    }

    /// A colour-blind-safe palette (Okabe and Ito's eight, black moved last).
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]

    static let font = "system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Arial, sans-serif"
    static let margin = (left: 72.0, right: 20.0, bottom: 44.0)
    /// A rough width of one character of 11 px text, for laying out legends without font metrics.
    static let characterWidth = 6.4

    /// Beyond the palette's eight colours, series are told apart by dashes too (dashed, then dotted).
    static func dash(_ color: Int) -> String {
        switch (color / palette.count) % 3 {
        case 0: ""
        case 1: " stroke-dasharray=\"6 3\""
        default: " stroke-dasharray=\"1.5 2.5\""
        }
    }

    /// How many characters of `size` px text fit in `width` px (a rough width per character).
    func fitting(width: Double, size: Double) -> Int {
        max(8, Int(width / (size * Self.characterWidth / 11)))
    }

    /// The picture as a standalone SVG file.
    public func svgDocument() -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + svg()
    }

    /// The `<svg>` element, for a file or inline in HTML.
    public func svg() -> String {
        var body = ""
        var y = 8.0
        if let title {
            body += "<text class=\"title\" x=\"\(Markup.coordinate(Self.margin.left))\" y=\"26\" font-size=\"17\" font-weight=\"600\">"
                + Markup.escape(Markup.clipped(title, to: fitting(width: Double(width) - Self.margin.left - Self.margin.right, size: 17)))
                + "</text>\n"
            y = 40
        }
        for (index, panel) in panels.enumerated() {
            y = render(panel, index: index, top: y, into: &body) + 12
        }
        let height = Int(y.rounded(.up))
        return """
            <svg xmlns="http://www.w3.org/2000/svg" class="emalog-chart" width="\(width)" height="\(height)" \
            viewBox="0 0 \(width) \(height)" font-family="\(Self.font)" font-size="11" fill="#222">
            <rect class="background" width="100%" height="100%" fill="#fff"/>
            \(body)</svg>

            """
    }

    /// Draws `panel` from `top`; returns its bottom.
    private func render(_ panel: Panel, index: Int, top: Double, into out: inout String) -> Double {
        let left = Self.margin.left, right = Double(width) - Self.margin.right
        out += "<g class=\"panel\" data-title=\"\(Markup.escape(panel.title))\">\n"
        out += "<text class=\"panel-title\" x=\"\(Markup.coordinate(left))\" y=\"\(Markup.coordinate(top + 14))\" font-size=\"13\" font-weight=\"600\">"
            + Markup.escape(Markup.clipped(panel.title, to: fitting(width: right - left, size: 13))) + "</text>\n"
        // The legend: entries in rows under the title, wrapping at the right edge.
        var rowY = top + 32, cursor = left
        var entries = panel.series.filter(\.inLegend)
        if entries.count == 1 && entries[0].name == panel.title { entries = [] }  // the title says it
        out += "<g class=\"legend\">\n"
        for series in entries {
            let label = Markup.clipped(series.name, to: min(60, fitting(width: right - left - 40, size: 11)))
            let entryWidth = 22 + Double(label.count) * Self.characterWidth + 16
            if cursor > left && cursor + entryWidth > right {
                rowY += 16
                cursor = left
            }
            let color = Self.palette[series.color % Self.palette.count]
            out += "<line\(Self.dash(series.color)) x1=\"\(Markup.coordinate(cursor))\" y1=\"\(Markup.coordinate(rowY - 4))\" x2=\"\(Markup.coordinate(cursor + 16))\" "
                + "y2=\"\(Markup.coordinate(rowY - 4))\" stroke=\"\(color)\" stroke-width=\"2.5\"/>"
            out += "<text class=\"legend-label\" x=\"\(Markup.coordinate(cursor + 22))\" y=\"\(Markup.coordinate(rowY))\">"
                + Markup.escape(label) + "</text>\n"
            cursor += entryWidth
        }
        out += "</g>\n"
        if entries.isEmpty { rowY -= 16 }
        if let note = panel.note {
            rowY += 15
            out += "<text class=\"note\" x=\"\(Markup.coordinate(left))\" y=\"\(Markup.coordinate(rowY))\" fill=\"#666\">"
                + Markup.escape(Markup.clipped(note, to: fitting(width: right - left, size: 11))) + "</text>\n"
        }
        let plotTop = rowY + 12, plotBottom = plotTop + Double(plotHeight)

        // Axes over what the series can show.
        var xExtent: (Double, Double)?, yExtent: (Double, Double)?
        for series in panel.series {
            for (x, value) in zip(series.xs, series.ys) where x.isFinite {
                guard let t = panel.yScale.transform(value) else { continue }
                xExtent = xExtent.map { (min($0.0, x), max($0.1, x)) } ?? (x, x)
                yExtent = yExtent.map { (min($0.0, t), max($0.1, t)) } ?? (t, t)
            }
        }
        let x = Axis(scale: .linear, extent: panel.xDomain ?? xExtent, start: left, end: right, nice: false, isSteps: true)
        let y = Axis(scale: panel.yScale, extent: yExtent, start: plotBottom, end: plotTop, nice: true)

        out += "<rect class=\"plot-area\" x=\"\(Markup.coordinate(left))\" y=\"\(Markup.coordinate(plotTop))\" width=\"\(Markup.coordinate(right - left))\" "
            + "height=\"\(plotHeight)\" fill=\"#fbfbfb\" stroke=\"#ccc\"/>\n"
        out += "<g class=\"axis y\">\n"
        for tick in y.ticks(target: max(3, plotHeight / 50)) {
            let py = Markup.coordinate(y.pixel(tick.value))
            out += "<line x1=\"\(Markup.coordinate(left))\" x2=\"\(Markup.coordinate(right))\" y1=\"\(py)\" y2=\"\(py)\" stroke=\"#e6e6e6\"/>"
            out += "<text class=\"tick\" x=\"\(Markup.coordinate(left - 6))\" y=\"\(py)\" dy=\"0.32em\" text-anchor=\"end\">"
                + Markup.escape(tick.label) + "</text>\n"
        }
        let middle = Markup.coordinate((plotTop + plotBottom) / 2)
        out += "<text class=\"axis-label\" transform=\"translate(14,\(middle)) rotate(-90)\" text-anchor=\"middle\">"
            + Markup.escape(Markup.clipped(panel.yLabel, to: min(50, fitting(width: Double(plotHeight), size: 11)))) + "</text>\n</g>\n"
        out += "<g class=\"axis x\">\n"
        for tick in x.ticks(target: max(3, width / 110)) {
            let px = Markup.coordinate(x.pixel(tick.value))
            out += "<line x1=\"\(px)\" x2=\"\(px)\" y1=\"\(Markup.coordinate(plotBottom))\" y2=\"\(Markup.coordinate(plotBottom + 5))\" stroke=\"#888\"/>"
            out += "<text class=\"tick\" x=\"\(px)\" y=\"\(Markup.coordinate(plotBottom + 17))\" text-anchor=\"middle\">"
                + Markup.escape(tick.label) + "</text>\n"
        }
        out += "<text class=\"axis-label\" x=\"\(Markup.coordinate((left + right) / 2))\" y=\"\(Markup.coordinate(plotBottom + 36))\" "
            + "text-anchor=\"middle\">" + Markup.escape(Markup.clipped(panel.xLabel, to: min(50, fitting(width: right - left, size: 11))))
            + "</text>\n</g>\n"

        // Series: faint ones first, so solid lines sit on top; clipped to the plot area.
        let clip = "\(idPrefix)-clip-\(index)"
        out += "<clipPath id=\"\(clip)\"><rect x=\"\(Markup.coordinate(left))\" y=\"\(Markup.coordinate(plotTop))\" width=\"\(Markup.coordinate(right - left))\" height=\"\(plotHeight)\"/></clipPath>\n"
        out += "<g class=\"series-group\" clip-path=\"url(#\(clip))\" fill=\"none\" stroke-linejoin=\"round\" stroke-linecap=\"round\">\n"
        let ordered = panel.series.filter { $0.style == .faint } + panel.series.filter { $0.style == .line }
        if xExtent == nil {
            out += "<text class=\"empty\" x=\"\(Markup.coordinate((left + right) / 2))\" y=\"\(Markup.coordinate((plotTop + plotBottom) / 2))\" "
                + "text-anchor=\"middle\" fill=\"#888\">no values to draw</text>\n"
        }
        for series in ordered {
            let (segments, _) = Downsample.m4(xs: series.xs, ys: series.ys, x: x, y: y)
            var d = ""
            for segment in segments {
                for (k, point) in segment.enumerated() {
                    d += (k == 0 ? (d.isEmpty ? "M" : " M") : " L") + Markup.coordinate(point.x) + " " + Markup.coordinate(point.y)
                }
                // A lone point (between gaps, or a history of one) as a small ring, visible at any size.
                if segment.count == 1 { d += " m-2.5 0 a2.5 2.5 0 1 0 5 0 a2.5 2.5 0 1 0 -5 0" }
            }
            let color = Self.palette[series.color % Self.palette.count]
            let look = (series.style == .line ? "stroke-width=\"1.8\"" : "stroke-width=\"1\" stroke-opacity=\"0.3\"") + Self.dash(series.color)
            let kind = series.style == .line ? "line" : "faint"
            out += "<path class=\"series \(kind)\" data-series=\"\(Markup.escape(series.name))\" stroke=\"\(color)\" \(look) d=\"\(d)\">"
                + "<title>\(Markup.escape(series.name))</title></path>\n"
        }
        out += "</g>\n</g>\n"
        return plotBottom + Self.margin.bottom
    }
}
