import EMAChart

extension EMALog {
    /// `plot`: the SVG document for `request` over `logs`. Remarks (keys left out, a step range
    /// without values) go to `observer` as warnings; a picture with no metric panel where one was
    /// asked for is `QueryError.noMetrics`.
    public static func plot(_ logs: [EMALog], _ request: PlotRequest, observer: any ProgressObserver) throws -> String {
        var panels: [Panel] = []
        if !request.tracks || !request.keys.isEmpty {
            let runs = Array(zip(request.labels, try metricCurves(logs, keys: request.keys, from: request.from, to: request.to)))
            var metricPanels = Plots.metrics(runs, smoothing: request.smoothing, logY: request.logY, from: request.from, to: request.to)
            if request.keys.isEmpty && metricPanels.count > PlotRequest.maxPanels {
                observer.warning("\(metricPanels.count) keys: drawing the first \(PlotRequest.maxPanels) in name order; choose with --key")
                metricPanels = Array(metricPanels.prefix(PlotRequest.maxPanels))
            }
            if metricPanels.isEmpty { throw QueryError.noMetrics(paths: logs.map(\.path)) }
            if runs.allSatisfy({ $0.1.allSatisfy(\.steps.isEmpty) }) {
                observer.warning("no metric values in steps \(request.from.map(String.init) ?? "...")-\(request.to.map(String.init) ?? "..."): "
                    + "the panels are empty; `emalog info` lists the steps")
            }
            panels += metricPanels
        }
        if request.tracks {
            let runs = try zip(request.labels, logs).map { label, log in
                (label, try log.trackDiagnostics(extra: request.extraTracks, tensor: request.tensor, observer: observer)
                    .restricted(from: request.from, to: request.to))
            }
            panels += Plots.tracks(runs, from: request.from, to: request.to)
        }
        let chart = Chart(title: request.title ?? request.labels.joined(separator: " vs "), panels: panels, width: request.width,
                          plotHeight: request.plotHeight)
        return chart.svgDocument()
    }
}
