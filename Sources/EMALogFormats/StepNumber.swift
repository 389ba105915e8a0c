/// Training step numbers: integers from 0 to `largest`, in files, metrics lines and logs.
public enum StepNumber {
    /// 2^53 - 1 = 9007199254740991: every step is exact as a Double (the decay schedules compute
    /// in Double) and as a JSON number read back by Python or JavaScript, and arithmetic on steps
    /// (gaps, the step after one) cannot overflow.
    public static let largest = (1 << 53) - 1

    /// Whether `step` is a valid step number.
    public static func isValid(_ step: Int) -> Bool { step >= 0 && step <= largest }

    /// How many of `steps` (ascending) are below `step`: where `step` is or would go (binary search).
    public static func count(below step: Int, in steps: [Int]) -> Int {
        var lo = 0, hi = steps.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if steps[mid] < step { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
