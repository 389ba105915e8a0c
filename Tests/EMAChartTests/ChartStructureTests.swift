import EMAChart
import FormatsTestSupport
import Foundation
import Testing

/// The SVG a chart writes, read back as XML: well formed, with the axes, series, labels and
/// legend it was given, and only finite coordinates.
@Suite struct ChartStructureTests {
    static func ramp(_ n: Int, _ f: (Double) -> Double) -> (xs: [Double], ys: [Double]) {
        let xs = (0..<n).map(Double.init)
        return (xs, xs.map(f))
    }

    static func chart() -> Chart {
        let a = ramp(200) { 2 * exp(-$0 / 50) + 0.1 }
        let b = ramp(200) { 1.5 * exp(-$0 / 80) + 0.2 }
        let acc = ramp(40) { $0 / 40 }
        return Chart(title: "run", panels: [
            Panel(title: "loss", yLabel: "loss", series: [
                Series(name: "a (raw)", color: 0, style: .faint, inLegend: false, xs: a.xs, ys: a.ys),
                Series(name: "a", color: 0, xs: a.xs, ys: a.ys),
                Series(name: "b", color: 1, xs: b.xs, ys: b.ys),
            ], note: "faint: raw"),
            Panel(title: "eval/acc", yLabel: "accuracy", series: [Series(name: "a", color: 0, xs: acc.xs, ys: acc.ys)]),
        ])
    }

    /// Every number in a path's `d` (coordinates), parsed.
    static func coordinates(_ path: XMLNode) -> [Double] {
        (path.attributes["d"] ?? "").split(whereSeparator: { " ML".contains($0) }).compactMap { Double($0) }
    }

    @Test func panelsAxesSeriesAndLegendAreThere() throws {
        let svg = try XMLNode.parse(Self.chart().svgDocument())
        #expect(svg.name == "svg")
        #expect(svg.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        let panels = svg.find("g", class: "panel")
        #expect(panels.map { $0.attributes["data-title"] } == ["loss", "eval/acc"])
        for panel in panels {
            #expect(panel.find("g", class: "axis x").count == 1)
            #expect(panel.find("g", class: "axis y").count == 1)
            #expect(panel.find("g", class: "axis x")[0].find("text", class: "tick").count >= 3)
            #expect(panel.find("g", class: "axis y")[0].find("text", class: "tick").count >= 3)
            #expect(panel.find("text", class: "axis-label").map(\.text).contains("step"))
        }
        #expect(panels[0].find("path", class: "series").map { $0.attributes["data-series"]! } == ["a (raw)", "a", "b"])
        #expect(panels[0].find("path", class: "series faint").count == 1)
        #expect(panels[0].find("text", class: "legend-label").map(\.text) == ["a", "b"])
        #expect(panels[0].find("text", class: "note").map(\.text) == ["faint: raw"])
        #expect(panels[1].find("text", class: "legend-label").map(\.text) == ["a"])
        #expect(panels[1].find("text", class: "axis-label").map(\.text).contains("accuracy"))
        #expect(svg.find("text", class: "title").map(\.text) == ["run"])
    }

    @Test func everyCoordinateIsFiniteEvenWithNaNAndInfinityInTheData() throws {
        var ys = (0..<100).map { Double($0) }
        ys[10] = .nan; ys[11] = .infinity; ys[50] = -.infinity
        let chart = Chart(panels: [
            Panel(title: "x", yLabel: "x", series: [Series(name: "x", color: 0, xs: (0..<100).map(Double.init), ys: ys)]),
            Panel(title: "log", yLabel: "x", yScale: .log, series: [Series(name: "x", color: 0, xs: (0..<100).map(Double.init), ys: ys)]),
            Panel(title: "empty", yLabel: "x", series: []),
            Panel(title: "constant", yLabel: "x", series: [Series(name: "c", color: 0, xs: [5, 5], ys: [0.003, 0.003])]),
        ])
        let text = chart.svgDocument()
        #expect(!text.lowercased().contains("nan") && !text.contains("inf"))
        let svg = try XMLNode.parse(text)
        for node in svg.all {
            for (key, value) in node.attributes where ["x", "y", "x1", "x2", "y1", "y2", "width", "height"].contains(key) {
                #expect(Double(value.replacingOccurrences(of: "%", with: ""))?.isFinite == true, "\(key)=\(value)")
            }
        }
        for path in svg.find("path", class: "series") {
            #expect(Self.coordinates(path).allSatisfy { $0.isFinite })
        }
        // The gaps split the line: NaN at 10 and the infinities leave three runs (four on the log
        // axis, where 0 is not drawable either).
        let linear = svg.find("g", class: "panel")[0].find("path", class: "series")[0]
        #expect(linear.attributes["d"]!.filter { $0 == "M" }.count == 3)
        let log = svg.find("g", class: "panel")[1].find("path", class: "series")[0]
        #expect(log.attributes["d"]!.filter { $0 == "M" }.count == 3)
        #expect(svg.find("text", class: "empty").count == 1)
        let constant = svg.find("g", class: "panel")[3].find("g", class: "axis y")[0].find("text", class: "tick").map(\.text)
        #expect(constant.contains("0.0030"), "\(constant)")
    }

    @Test(arguments: [[-1.7e308, 0], [1e308, -1e308], [1.7e308, 1.79e308], [5e-324, 5e-324],
                      [-Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude]] as [[Double]])
    func valuesAtTheEndsOfDoubleStillMakeAnAxis(values: [Double]) throws {
        for scale in [AxisScale.linear, .log] {
            let chart = Chart(panels: [Panel(title: "v", yLabel: "v", yScale: scale,
                                             series: [Series(name: "v", color: 0, xs: [1, 2], ys: values)])])
            let svg = try XMLNode.parse(chart.svgDocument())
            let ticks = svg.find("g", class: "axis y")[0].find("text", class: "tick")
            let positions = ticks.map { $0.attributes["y"]! }
            #expect(ticks.count >= 2 && ticks.count <= 12 && Set(positions).count == positions.count, "\(scale) \(values): \(positions)")
            #expect(ticks.allSatisfy { !$0.text.isEmpty })
            for path in svg.find("path", class: "series") { #expect(Self.coordinates(path).allSatisfy { $0.isFinite }) }
        }
    }

    @Test func aLonePointIsARingAndColoursBeyondThePaletteAreDashed() throws {
        let series = (0..<10).map { Series(name: "s\($0)", color: $0, xs: [1], ys: [Double($0)]) }
        let svg = try XMLNode.parse(Chart(panels: [Panel(title: "p", yLabel: "y", series: series)]).svgDocument())
        let paths = svg.find("path", class: "series")
        #expect(paths.allSatisfy { $0.attributes["d"]!.contains(" a2.5 2.5") })
        #expect(paths.map { $0.attributes["stroke-dasharray"] != nil } == Array(repeating: false, count: 8) + [true, true])
    }

    @Test func textFromALogCannotBreakOutOfTheMarkup() throws {
        let hostile = "</text><script>alert(1)</script>&amp;\"'\u{1}\u{7F}é\u{202E}"
        let chart = Chart(title: hostile, panels: [
            Panel(title: hostile, yLabel: hostile, series: [Series(name: hostile, color: 0, xs: [0, 1], ys: [1, 2]),
                                                            Series(name: "b", color: 1, xs: [0, 1], ys: [1, 2])]),
        ])
        let svg = try XMLNode.parse(chart.svgDocument())
        #expect(svg.find("script").isEmpty)
        let shown = "</text><script>alert(1)</script>&amp;\"'\u{FFFD}\u{FFFD}é\u{FFFD}"
        #expect(svg.find("text", class: "title").map(\.text) == [shown])
        #expect(svg.find("g", class: "panel")[0].attributes["data-title"] == shown)
        #expect(svg.find("text", class: "legend-label").map(\.text) == [shown, "b"])
        #expect(svg.find("text", class: "axis-label").map(\.text).contains(Markup.clipped(shown, to: 40)))  // fits 260 px
        #expect(svg.find("path", class: "series")[0].attributes["data-series"] == shown)
    }

    @Test func idsAreUniquePerPrefix() throws {
        var a = Self.chart(), b = Self.chart()
        a.idPrefix = "a"
        b.idPrefix = "b"
        let ids = try [a, b].flatMap { try XMLNode.parse($0.svg()).all.compactMap { $0.attributes["id"] } }
        #expect(ids.count == 4 && Set(ids).count == 4)
    }
}
