import EMAKernel
import EMALogStore

extension TrackRecord {
    /// The track's profile as stored in the log, validated like `--ema`: a spec that does not parse
    /// (or names itself), or a name outside letters, digits, `-`, `_` and `.`, is a damaged log
    /// (`StoreError.inconsistent`: 74 for readers, a finding for `audit`), never a usage error.
    func profile() throws(StoreError) -> EMASpec {
        let nameIsValid = !name.isEmpty && name.allSatisfy { $0.isLetter || $0.isNumber || "-_.".contains($0) }
        guard nameIsValid else { throw .inconsistent("a track is named '\(name.prefix(40))', not letters, digits, '-', '_' or '.'") }
        guard !spec.contains("name=") else { throw .inconsistent("track '\(name)' has a damaged spec '\(spec.prefix(80))': it names itself") }
        do {
            var parsed = try EMASpec(parsing: spec)
            parsed.name = name
            return parsed
        } catch {
            throw .inconsistent("track '\(name)' has a damaged spec '\(spec.prefix(80))': \(error.reason)")
        }
    }
}
