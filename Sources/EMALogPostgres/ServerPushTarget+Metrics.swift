import Crypto
import EMALogFormats
public import EMALogStore
import Foundation
import NIOCore
import PostgresNIO

extension ServerPushTarget {
    /// Each key's values in blocks of `blockValues` by position; blocks whose checksum the server
    /// already has are skipped, the rest written, extra ones deleted, all in one transaction.
    public func writeMetrics(_ r: any LogReader, plan: PushPlan) throws -> (blocks: Int, values: Int) {
        // The server's hash of each block's data, not only its xxh64 column: a block changed there
        // is written again.
        var remote: [Int64: [Int: (checksum: Int64, sha256: Data)]] = [:]
        for (key, index, checksum, sha) in try connection.rows(
            "SELECT key_id, block_index, xxh64, sha256(data) FROM run_metric_blocks WHERE run_id = \(runID)", "read the metric blocks", {
                try $0.decode((Int64, Int, Int64, ByteBuffer).self)
            }) { remote[key, default: [:]][index] = (checksum, Data(sha.readableBytesView)) }
        var keys: [Int64] = [], indices: [Int64] = [], firsts: [Int64] = [], lasts: [Int64] = [], counts: [Int64] = []
        var checksums: [Int64] = [], datas: [ByteBuffer] = []
        var extra: [(key: Int64, from: Int)] = []
        var values = 0
        for key in plan.metricKeys.values.sorted() {
            let points = try r.metricValues(keyIDs: [key], steps: 0...StepNumber.largest)
            var index = 0
            for start in stride(from: 0, to: points.count, by: Self.blockValues) {
                var block = MetricBlock(keyID: key)
                for p in points[start..<min(start + Self.blockValues, points.count)] {
                    block.steps.append(p.step)
                    block.values.append(p.value)
                }
                let data = block.encoded()
                let checksum = Int64(bitPattern: data.withUnsafeBytes { XXH64.hash($0) })
                let stored = remote[key]?[index]
                if stored?.checksum != checksum || stored?.sha256 != Data(SHA256.hash(data: data)) {
                    keys.append(key); indices.append(Int64(index)); firsts.append(Int64(block.steps[0]))
                    lasts.append(Int64(block.steps.last!)); counts.append(Int64(block.count)); checksums.append(checksum)
                    datas.append(ByteBuffer(bytes: data))
                    values += block.count
                }
                index += 1
            }
            if let stored = remote[key], stored.keys.contains(where: { $0 >= index }) { extra.append((key, index)) }
        }
        guard !keys.isEmpty || !extra.isEmpty else { return (0, 0) }
        try connection.transaction {
            for (key, from) in extra {
                try connection.query("""
                    DELETE FROM run_metric_blocks WHERE run_id = \(runID) AND key_id = \(key) AND block_index >= \(from)
                    """, "delete metric blocks")
            }
            for start in stride(from: 0, to: keys.count, by: 4096) {
                let r = start..<min(start + 4096, keys.count)
                var binds = PostgresBindings(capacity: 7)
                binds.append(Array(keys[r])); binds.append(Array(indices[r])); binds.append(Array(firsts[r]))
                binds.append(Array(lasts[r])); binds.append(Array(counts[r])); binds.append(Array(checksums[r]))
                binds.append(Array(datas[r]))
                try connection.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO run_metric_blocks (run_id, key_id, block_index, first_step, last_step, count, xxh64, data)
                    SELECT \(runID), * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[],
                                                   $6::BIGINT[], $7::BYTEA[])
                    ON CONFLICT (run_id, key_id, block_index) DO UPDATE SET first_step = excluded.first_step,
                        last_step = excluded.last_step, count = excluded.count, xxh64 = excluded.xxh64, data = excluded.data
                    """, binds: binds), "store metric blocks")
            }
        }
        return (keys.count, values)
    }
}
