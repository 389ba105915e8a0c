import EMALogFormats
import EMALogStore

/// A snapshot a replaced step took away, owed until an ingest writes it again. A log keeps the
/// set as text in `log_info` (`owed_snapshots`): "track:step" pairs, comma-separated, ascending.
struct OwedSnapshot: Hashable {
    var track: Int64
    var step: Int

    static func text(_ owed: Set<OwedSnapshot>) -> String {
        owed.sorted { ($0.track, $0.step) < ($1.track, $1.step) }.map { "\($0.track):\($0.step)" }.joined(separator: ",")
    }

    /// The pairs `text` holds, validated (a hand-edited value is damage, never a crash).
    static func parse(_ text: String) throws(StoreError) -> [OwedSnapshot] {
        guard !text.isEmpty else { return [] }
        var owed: [OwedSnapshot] = []
        for pair in text.split(separator: ",", omittingEmptySubsequences: false) {
            let parts = pair.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let track = Int64(parts[0]), track > 0, let step = Int(parts[1]), StepNumber.isValid(step) else {
                throw StoreError.inconsistent("log_info's owed_snapshots holds '\(String(pair.prefix(40)))', not a track id and a step")
            }
            owed.append(OwedSnapshot(track: track, step: step))
        }
        return owed
    }
}
