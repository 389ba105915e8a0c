import Crypto
import EMALogFormats
import EMALogStore
import Foundation

extension EMALog {
    /// A SHA-256 over what the log holds, as stored: its id, tensor set, every step's record and
    /// chunks (codec, sizes, checksum, stored bytes), tracks, snapshots (by track name and step)
    /// and their chunks, metric values (by key name) and the audit trail. Row ids of snapshots and
    /// keys are left out, so a log, its run on a team store and a pulled copy digest alike; any
    /// other difference changes it. Reads every stored byte once, in one read view.
    public func contentDigest() throws -> String {
        try requireOneLog("a content digest")
        return try store.read { r in
            var hash = SHA256()
            func put(_ text: String) {
                var bytes = Array(text.utf8)
                bytes.append(0)
                hash.update(data: bytes)
            }
            func put(_ value: Int) { withUnsafeBytes(of: Int64(value).littleEndian) { hash.update(bufferPointer: $0) } }
            func put(_ chunk: StoredChunk) {
                put(chunk.header.index)
                put(chunk.header.codec.rawValue)
                put(chunk.header.rawSize)
                put(Int(Int64(bitPattern: chunk.header.checksum)))
                put(chunk.payload.count)
                hash.update(data: chunk.payload)
            }
            put("emalog content digest 1")
            put(try r.logID())
            let tensors = try r.tensors()
            for t in tensors {
                put(t.name); put(t.dtype.rawValue); put(t.shape.count); t.shape.forEach { put($0) }; put(t.position)
            }
            for i in try r.ingests() {
                put(Int(i.id)); put(i.startedAt); put(i.emalogVersion); put(i.arguments.count); i.arguments.forEach { put($0) }
                put(i.configuration)
            }
            for step in try r.stepRecords(in: 0...StepNumber.largest) {
                put("step"); put(step.step); put(Int(step.ingestID)); put(step.sourcePath); put(step.sourceSize)
                put(Int(Int64(bitPattern: step.sourceHash))); put(step.ingestedAt)
                for (key, value) in step.metadata.sorted(by: { $0.key < $1.key }) { put(key); put(value) }
                if !step.raw { put("raw weights left out") }  // (a log that keeps them all hashes as before)
                for t in tensors { try r.forEachStoredChunk(of: t, in: .step(step.step)) { put($0) } }
            }
            for track in try r.tracks() {
                put("track"); put(track.name); put(track.spec)
                for snapshot in try r.snapshots(track: track.id) {
                    put("snapshot"); put(snapshot.step)
                    for t in tensors { try r.forEachStoredChunk(of: t, in: .snapshot(snapshot.id)) { put($0) } }
                }
            }
            for (name, id) in try r.metricKeys().sorted(by: { $0.key < $1.key }) {
                put("metric"); put(name)
                for v in try r.metricValues(keyIDs: [id], steps: 0...StepNumber.largest) {
                    put(v.step)
                    // As stored: every NaN alike, -0.0 as 0 (see MetricValue.sameValue).
                    put(Int(Int64(bitPattern: v.value.isNaN ? Double.nan.bitPattern : (v.value == 0 ? 0 : v.value.bitPattern))))
                }
            }
            return hash.finalize().map { String(format: "%02x", $0) }.joined()
        }
    }
}
