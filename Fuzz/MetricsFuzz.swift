// libFuzzer target: a metrics JSON line is decoded or refused with an error, never a crash; an
// accepted line has a step >= 0 and no duplicate keys; the fast path accepts only lines the full
// decoder accepts, with the same result. Built by Fuzz/run.sh.
@_cdecl("LLVMFuzzerTestOneInput")
public func metricsFuzz(_ data: UnsafeRawPointer, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    var cache = MetricsKeyCache()
    let fast = MetricsLine.decodeFast(bytes, cache: &cache)
    if let fast { precondition((try? MetricsLine.decode(bytes)) == fast, "fast path disagrees") }
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
