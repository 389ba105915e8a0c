/// The emalog version recorded in logs and outputs.
public enum EMALogVersion {
    public static let current = "0.1.0"
}
