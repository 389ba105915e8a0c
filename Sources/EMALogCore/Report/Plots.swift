public import EMAChart
import Foundation
import EMAKernel

/// The pictures of `plot` and `report`: metric histories and track diagnostics as chart panels.
public enum Plots {
    /// A label per log for legends: the file name without `.emalog` (or its folder and name when
    /// two logs share a name).
    public static func runLabels(_ paths: [String]) -> [String] {
        func name(_ path: String) -> String {
            let base = path.split(separator: "/").last.map(String.init) ?? path
            return base.hasSuffix(".emalog") ? String(base.dropLast(7)) : base
        }
        let names = paths.map(name)
        return zip(paths, names).map { path, short in names.filter { $0 == short }.count > 1 ? path : short }
    }

    /// The keys of every run's curves, in the order first seen.
    static func keys(_ runs: [[MetricCurve]]) -> [String] {
        var keys: [String] = []
        for curves in runs { for curve in curves where !keys.contains(curve.key) { keys.append(curve.key) } }
        return keys
    }

    /// The x axis every panel of a picture shares: `from...to` where given, else the steps drawn.
    static func domain(_ steps: [Int], from: Int?, to: Int?) -> (Double, Double)? {
        let lo = from ?? steps.min(), hi = to ?? steps.max()
        guard let lo, let hi else { return nil }
        return (Double(min(lo, hi)), Double(max(lo, hi)))
    }

    /// One panel per key (keys in the order first seen), each run's history in its own colour:
    /// raw values faint, smoothed (`smoothing` > 0, TensorBoard's debiased EMA) solid.
    public static func metrics(_ runs: [(label: String, curves: [MetricCurve])], smoothing: Double, logY: Bool,
                               from: Int? = nil, to: Int? = nil) -> [Panel] {
        let keys = Self.keys(runs.map(\.curves))
        let scale: AxisScale = logY ? .log : .linear
        let steps = runs.flatMap { $0.curves.flatMap { [$0.steps.first, $0.steps.last].compactMap { $0 } } }
        let domain = Self.domain(steps, from: from, to: to)
        return keys.map { key in
            var series: [Series] = []
            var hidden = 0
            for (index, run) in runs.enumerated() {
                guard let curve = run.curves.first(where: { $0.key == key }) else { continue }
                let xs = curve.steps.map(Double.init)
                let name = runs.count > 1 ? run.label : key
                hidden += curve.values.reduce(0) { $0 + (scale.transform($1) == nil ? 1 : 0) }
                if smoothing > 0 {
                    series.append(Series(name: name + " (raw)", color: index, style: .faint, inLegend: false, xs: xs, ys: curve.values))
                    series.append(Series(name: name, color: index, style: .line, xs: xs,
                                         ys: Smoothing.debiased(curve.values, weight: smoothing)))
                } else {
                    series.append(Series(name: name, color: index, style: .line, xs: xs, ys: curve.values))
                }
            }
            var notes: [String] = []
            if smoothing > 0 { notes.append("faint: raw values; solid: smoothed (weight \(EMASpec.format(smoothing)), debiased as in TensorBoard)") }
            if hidden > 0 { notes.append("\(hidden) value\(hidden == 1 ? "" : "s") not drawn (" + (logY ? "NaN, infinite or <= 0 on a log axis)" : "NaN or infinite)")) }
            var panel = Panel(title: key, yLabel: key, yScale: scale, series: series, note: notes.isEmpty ? nil : notes.joined(separator: "; "))
            panel.xDomain = domain
            return panel
        }
    }

    /// The parts of a canonical spec that tell tracks apart: the decay, and any setting that is not
    /// the default (schedule, per, after, every), e.g. `0.98, warmup` or `0.999, every=4`.
    static func summary(_ canonical: String) -> String {
        guard let spec = try? EMASpec(parsing: canonical) else { return canonical }
        var parts = spec.schedule == .power ? ["power", spec.sigmaRel.map { "sigma_rel=\(EMASpec.format($0))" }
                                                    ?? "gamma=" + String(format: "%.4g", spec.gamma)]
            : [EMASpec.format(spec.decay)] + (spec.schedule == .constant ? [] : [spec.schedule.rawValue])
        if spec.per != .update { parts.append("per=\(spec.per.rawValue)") }
        if spec.after > 0 { parts.append("after=\(spec.after)") }
        if spec.every > 1 { parts.append("every=\(spec.every)") }
        return parts.joined(separator: ", ")
    }

    /// Two panels over every run's tracks: the relative distance ||shadow − θ|| / ||θ|| (log axis),
    /// and the decay applied at each update (a nines axis: 0.9, 0.99, 0.999 evenly spaced).
    public static func tracks(_ runs: [(label: String, diagnostics: TrackDiagnostics)], from: Int? = nil, to: Int? = nil)
        -> [Panel]
    {
        var distance: [Series] = [], decay: [Series] = []
        var color = 0
        var undefined = 0
        var steps: [Int] = []
        for run in runs {
            for curve in run.diagnostics.curves {
                steps += [curve.steps.first, curve.steps.last, curve.decaySteps.first, curve.decaySteps.last].compactMap { $0 }
                undefined += curve.relativeDistance.reduce(0) { $0 + ($1.isFinite ? 0 : 1) }
                let name = (runs.count > 1 ? run.label + ": " : "") + curve.name + " (" + summary(curve.spec) + ")"
                distance.append(Series(name: name, color: color, xs: curve.steps.map(Double.init), ys: curve.relativeDistance))
                decay.append(Series(name: name, color: color, xs: curve.decaySteps.map(Double.init), ys: curve.decays))
                color += 1
            }
        }
        let scopes = runs.map { run in
            (run.diagnostics.tensor.map { "tensor \($0)" } ?? "every floating tensor") + " (\(run.diagnostics.parameters) values)"
        }
        let measured = Set(scopes).count == 1 ? scopes[0]
            : zip(runs, scopes).map { "\($0.label): \($1)" }.joined(separator: "; ")
        let gaps = undefined == 0 ? ""
            : "; \(undefined) not drawn (||θ|| = 0, or weights that are not finite)"
        var panels = [
            Panel(title: "distance to the weights: ||shadow - θ|| / ||θ||", yLabel: "relative distance", yScale: .log,
                  series: distance,
                  note: "after each step's update, over \(measured); 0 at the first step, off the log axis" + gaps),
            Panel(title: "decay applied at each update", yLabel: "decay", yScale: .nines, series: decay,
                  note: "0 where the shadow copies the weights; steps an every= schedule skips are left out"),
        ]
        let shared = domain(steps, from: from, to: to)
        for k in panels.indices { panels[k].xDomain = shared }
        return panels
    }
}
