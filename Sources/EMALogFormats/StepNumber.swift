/// Training step numbers: integers from 0 to `largest`, in files, metrics lines and logs.
public enum StepNumber {
    /// 2^53 - 1 = 9007199254740991: every step is exact as a Double (the decay schedules compute
    /// in Double) and as a JSON number read back by Python or JavaScript, and arithmetic on steps
    /// (gaps, the step after one) cannot overflow.
    public static let largest = (1 << 53) - 1

    /// Whether `step` is a valid step number.
    public static func isValid(_ step: Int) -> Bool { step >= 0 && step <= largest }
}
