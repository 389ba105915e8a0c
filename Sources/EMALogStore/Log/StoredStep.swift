import EMALogFormats

/// A step number read from a store, validated before anything is sized or trusted from it: every
/// backend checks its rows here, so a damaged row reads the same from any of them.
public enum StoredStep {
    /// `step`, which `table` holds, when it is in `0...StepNumber.largest`.
    public static func checked(_ step: Int, _ table: String) throws(StoreError) -> Int {
        guard StepNumber.isValid(step) else {
            throw .inconsistent("\(table) holds step \(step), outside 0...\(StepNumber.largest)")
        }
        return step
    }

    /// `step` when it is nil or valid.
    public static func checked(_ step: Int?, _ table: String) throws(StoreError) -> Int? {
        guard let step else { return nil }
        return try checked(step, table) as Int
    }

    /// `steps` when every one is valid.
    public static func checked(_ steps: [Int], _ table: String) throws(StoreError) -> [Int] {
        for step in steps { _ = try checked(step, table) }
        return steps
    }
}
