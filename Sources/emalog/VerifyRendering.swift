import EMAKernel
import EMALogCore
import EMALogFormats
import Foundation

/// The words and JSON of `verify`'s reports.
enum VerifyRendering {
    /// The verdict line, then one line per tensor.
    static func text(_ r: VerifyReport) -> String {
        var lines = [verdictLine(r)]
        let width = min(48, r.tensors.map { label($0).count }.max() ?? 0)
        for t in r.tensors {
            let name = label(t).padding(toLength: max(width, label(t).count), withPad: " ", startingAt: 0)
            lines.append("  \(name)  \(t.dtype.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0))  \(detail(t, r))")
        }
        return lines.joined(separator: "\n")
    }

    /// The best candidate's spec and verdict, the other candidates, then its report.
    static func text(_ candidates: [VerifyCandidate]) -> String {
        let best = candidates[0].report
        var lines: [String] = []
        switch best.verdict {
        case .exact: lines.append("found: \(best.spec.canonical) reproduces the checkpoint bit for bit")
        case .withinTolerance: lines.append("found: \(best.spec.canonical) reproduces the checkpoint within the tolerance")
        case .differs: lines.append("not found: no candidate reproduces the checkpoint; the closest is \(best.spec.canonical)")
        }
        lines.append("candidates, closest first (\(candidates.count) tried):")
        for c in candidates.prefix(Self.candidatesShown) {
            lines.append("  \(c.report.verdict.rawValue.padding(toLength: 16, withPad: " ", startingAt: 0))  \(summary(c.report))  \(c.spec.canonical)")
        }
        if candidates.count > Self.candidatesShown {
            lines.append("  … \(candidates.count - Self.candidatesShown) more (--format json lists them all)")
        }
        lines.append("")
        lines.append(text(best))
        return lines.joined(separator: "\n")
    }

    /// Candidates listed in text; JSON lists every one.
    static let candidatesShown = 8

    static func json(_ r: VerifyReport) -> String {
        var json = JSONWriter()
        json.object { json in fields(r, &json) }
        return json.text
    }

    static func json(_ candidates: [VerifyCandidate]) -> String {
        var json = JSONWriter()
        json.object { json in
            json.field("found", candidates[0].report.verdict != .differs)
            json.array("candidates") { json in
                for c in candidates {
                    json.object { json in
                        json.field("ema", c.spec.canonical)
                        json.field("verdict", c.report.verdict.rawValue)
                        json.field("exact_tensors", c.report.tensors.filter { $0.status == .exact && $0.dtype.isFloating }.count)
                        json.field("max_ulp", c.report.tensors.compactMap(\.maxULP).max())
                    }
                }
            }
            fields(candidates[0].report, &json)
        }
        return json.text
    }

    private static func fields(_ r: VerifyReport, _ json: inout JSONWriter) {
        json.field("verdict", r.verdict.rawValue)
        json.field("step", r.step)
        json.field("ema", r.spec.canonical)
        json.key("track")
        if let name = r.trackName { json.value(name) } else { json.value(nil as Int?) }
        json.field("layout", r.layout.name)
        json.field("checkpoint", r.checkpointPath)
        json.array("tensors") { json in
            for t in r.tensors {
                json.object { json in
                    json.key("name")
                    if let name = t.name { json.value(name) } else { json.value(nil as Int?) }
                    json.key("log_name")
                    if let name = t.logName { json.value(name) } else { json.value(nil as Int?) }
                    json.field("dtype", t.dtype.rawValue)
                    json.field("status", t.status.rawValue)
                    json.field("max_abs", t.maxAbs)
                    json.field("max_ulp", t.maxULP)
                    json.field("first_index", t.firstIndex)
                    json.field("checkpoint_value", t.checkpointValue)
                    json.field("log_value", t.logValue)
                    json.key("reason")
                    if let reason = t.reason { json.value(words(reason, r.layout)) } else { json.value(nil as Int?) }
                }
            }
        }
    }

    private static func verdictLine(_ r: VerifyReport) -> String {
        let what = "\(r.checkpointPath) (layout \(r.layout.name)) against \(r.trackName.map { "track '\($0)', " } ?? "")"
            + "\(r.spec.canonical) at step \(r.step)"
        let head: String = switch r.verdict {
        case .exact: "exact"
        case .withinTolerance: "within tolerance (\(toleranceText(r.tolerance)))"
        case .differs: r.comparedCount == 0 ? "differs: no floating tensor in common" : "differs"
        }
        return "\(head): \(what): \(summary(r))"
    }

    private static func summary(_ r: VerifyReport) -> String {
        var counts: [TensorVerdict.Status: Int] = [:]
        for t in r.tensors { counts[t.status, default: 0] += 1 }
        let order: [(TensorVerdict.Status, String)] = [
            (.exact, "exact"), (.withinTolerance, "within tolerance"), (.differs, "differ"),
            (.onlyInCheckpoint, "only in the checkpoint"), (.onlyInLog, "only in the log"), (.notCompared, "not compared"),
        ]
        return order.compactMap { status, word in counts[status].map { "\($0) \(word)" } }.joined(separator: ", ")
    }

    private static func label(_ t: TensorVerdict) -> String {
        switch (t.name, t.logName) {
        case let (name?, log?) where name != log: "\(name) (log: \(log))"
        case let (name?, _): name
        case let (nil, log?): log
        case (nil, nil): "?"
        }
    }

    private static func detail(_ t: TensorVerdict, _ r: VerifyReport) -> String {
        switch t.status {
        case .exact: return "exact"
        case .withinTolerance, .differs:
            if let reason = t.reason { return "differs: \(words(reason, r.layout))" }
            var s = t.status == .differs ? "differs" : "within tolerance"
            s += ": max abs \(JSONWriter.number(t.maxAbs ?? 0)), max ulp \(t.maxULP ?? 0)"
            if let i = t.firstIndex, let a = t.checkpointValue, let b = t.logValue {
                s += ", first at index \(i): checkpoint \(JSONWriter.number(a)), log \(JSONWriter.number(b))"
            }
            return s
        case .onlyInCheckpoint: return "only in the checkpoint"
        case .onlyInLog: return "only in the log"
        case .notCompared: return "not compared: " + (t.reason.map { words($0, r.layout) } ?? "")
        }
    }

    private static func words(_ reason: TensorVerdict.Reason, _ layout: CheckpointLayout) -> String {
        switch reason {
        case .libraryCounter: "a counter of \(layout.name), not a model tensor"
        case .onlineWeights: "ema-pytorch's copy of the online model, not the EMA"
        case .integerBuffer:
            "an integer buffer that differs from the log's latest raw value"
                + (layout == .averagedModel ? " (AveragedModel averages integer buffers in its own arithmetic)"
                    : layout == .emaPytorch ? " (ema-pytorch keeps integer buffers from when it was created)" : "")
                + "; --strict counts it"
        case let .layoutMismatch(checkpoint, log): "the checkpoint holds \(checkpoint), the log \(log)"
        }
    }

    private static func toleranceText(_ t: VerifyTolerance) -> String {
        switch t {
        case .exact: "exact"
        case let .absolute(x): "--atol \(JSONWriter.number(x))"
        case let .ulps(n): "--max-ulp \(n)"
        }
    }
}


