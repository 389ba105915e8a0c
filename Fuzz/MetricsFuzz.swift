// libFuzzer target: a metrics JSON line is decoded or refused with an error, never a crash; an
// accepted line has a step >= 0 and no duplicate keys. Built by Fuzz/run.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func metricsFuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    do {
        let line = try MetricsLine.decode(bytes)
        precondition(line.step >= 0, "accepted a negative step")
        let keys = line.values.map(\.key) + line.skipped.map(\.key)
        precondition(Set(keys).count == keys.count, "accepted duplicate keys")
    } catch {
        _ = "\(error)"
    }
    return 0
}
