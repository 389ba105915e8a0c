import EMAChart
import EMALogStore
import Foundation

/// What `report` puts on its page, and how.
public struct ReportOptions: Sendable {
    /// Metric keys to chart (empty: every key, up to `maxCharts`).
    public var keys: [String] = []
    /// TensorBoard smoothing weight of the metric curves (0: raw only).
    public var smoothing = 0.9
    public var logY = false
    /// Replay the tracks for the distance and decay panels.
    public var tracks = true
    /// The tensor the distance is measured over (nil: every floating tensor).
    public var tensor: String?
    /// Run `audit` on each log and show its verdict.
    public var audit = true
    /// Charts drawn when no key is named; the rest are in the tables only.
    public var maxCharts = 24
    /// Rows of the metrics table shown on the page (evenly spaced, the first and last kept);
    /// the CSV download holds every row.
    public var maxTableRows = 500
    /// The largest CSV embedded for download (bytes); above it, the page says how to export.
    public var maxEmbeddedCSV = 48 << 20
    public var width = 960

    public init() {}
}

/// One log's part of a report.
public struct RunReport: Sendable {
    public var label: String
    public var info: LogInfo
    public var curves: [MetricCurve]
    public var table: MetricsTable
    public var tracks: TrackDiagnostics?
    /// Why there are no track panels, when there are none.
    public var tracksSkipped: String?
    public var audit: AuditReport?
    /// Why the audit is not shown (skipped, or it could not run).
    public var auditSkipped: String?

    /// Gathers every log's part, in order; a key in `options.keys` that no log has throws first
    /// (`UnknownMetricKey`), before the long work.
    public static func gather(_ logs: [EMALog], labels: [String], options: ReportOptions,
                              observer: any ProgressObserver = SilentObserver()) throws -> [RunReport] {
        try EMALog.requireKeys(options.keys, in: logs)
        return try zip(logs, labels).map { log, label in try gather(log, label: label, options: options, observer: observer) }
    }

    /// Gathers everything the page shows for `log`.
    public static func gather(_ log: EMALog, label: String, options: ReportOptions,
                              observer: any ProgressObserver = SilentObserver()) throws -> RunReport {
        let info = try log.info()
        let keys = options.keys.isEmpty ? info.metricKeys : options.keys.filter(info.metricKeys.contains)
        let curves = keys.isEmpty ? [] : try log.metricCurves(keys: keys)
        let table = try log.metrics(keys: [])
        var audit: AuditReport?, auditSkipped: String?
        if options.audit {
            // A sharded training: every rank audited, and the ranks against each other.
            audit = log.shards.isEmpty ? try EMALog(openingAt: log.path, auditing: true).audit(observer: observer)
                : try log.audit(observer: observer)
        } else {
            auditSkipped = "not run (--no-audit)"
        }
        var tracks: TrackDiagnostics?, tracksSkipped: String?
        if !options.tracks {
            tracksSkipped = "not computed (--no-tracks)"
        } else if info.tracks.isEmpty {
            tracksSkipped = "the log has no EMA tracks"
        } else if info.stepCount == 0 {
            tracksSkipped = "the log has no steps"
        } else {
            do {
                tracks = try log.trackDiagnostics(tensor: options.tensor, observer: observer)
            } catch let error as StoreError where error.isDamage {
                // A damaged chunk stops the replay, not the page: the audit above names it.
                tracksSkipped = "not drawn: the replay stopped at damaged data (\(error))"
            }
        }
        return RunReport(label: label, info: info, curves: curves, table: table, tracks: tracks, tracksSkipped: tracksSkipped,
                         audit: audit, auditSkipped: auditSkipped)
    }
}
