import Crypto
import EMALogFormats
public import EMALogStore
import Foundation
import NIOCore
import PostgresNIO

extension ServerPushTarget {
    /// A chunk row of the run whose body the server holds damaged.
    struct DamagedRow {
        var owner: ChunkOwner
        var tensorID: Int64
        var index: Int
        var sha256: Data
    }

    /// `push --repair`: the server hashes every body the run names; each one that is not the bytes
    /// its sha256 names is written again from the log, which must hold those bytes (the run was
    /// pushed from it or a copy). Returns how many bodies were written.
    public func repairBodies(_ r: any LogReader, plan: PushPlan) throws -> Int {
        // Each body the run names is hashed once (a frozen tensor's chunks share one body across
        // steps), and one row that names each damaged body says where the log holds its bytes.
        let damaged = try connection.rows("""
            WITH \(unescaped: ServerReader.namedBodies(runID)),
            bad AS (SELECT b.sha256 FROM chunk_bodies b JOIN named n ON n.sha256 = b.sha256 WHERE sha256(b.body) != b.sha256)
            SELECT DISTINCT ON (sha256) kind, owner, tensor_id, chunk_index, sha256 FROM (
                SELECT 0 AS kind, c.step AS owner, c.tensor_id, c.chunk_index, c.sha256 FROM run_chunks c
                JOIN bad ON bad.sha256 = c.sha256 WHERE c.run_id = \(runID)
                UNION ALL
                SELECT 1, c.snapshot_id, c.tensor_id, c.chunk_index, c.sha256 FROM run_snapshot_chunks c
                JOIN bad ON bad.sha256 = c.sha256 WHERE c.run_id = \(runID)
            ) rows ORDER BY sha256, kind, owner
            """, "hash the run's chunk bodies") { row in
            let (kind, owner, tensor, index, sha) = try row.decode((Int, Int64, Int64, Int, ByteBuffer).self)
            return DamagedRow(owner: kind == 0 ? .step(Int(owner)) : .snapshot(owner), tensorID: tensor, index: index,
                              sha256: Data(sha.readableBytesView))
        }
        let tensors = Dictionary(plan.tensors.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var written = Set<Data>()
        for (key, rows) in Dictionary(grouping: damaged, by: { OwnerTensor(owner: $0.owner, tensorID: $0.tensorID) }) {
            guard let tensor = tensors[key.tensorID] else {
                throw StoreError.inconsistent("the run's chunk body of tensor id \(key.tensorID) \(key.owner.label) is damaged on the "
                    + "server, and this log has no such tensor: repair it from the copy of the log it was pushed from")
            }
            var wanted = Dictionary(rows.map { ($0.index, $0.sha256) }, uniquingKeysWith: { a, _ in a })
            try r.forEachStoredChunk(of: tensor, in: key.owner) { chunk in
                guard let sha = wanted.removeValue(forKey: chunk.header.index) else { return }
                guard Data(SHA256.hash(data: chunk.payload)) == sha else {
                    throw StoreError.inconsistent("tensor '\(tensor.name)' \(key.owner.label) chunk \(chunk.header.index): the run "
                        + "names other bytes than this log holds, so this log cannot repair it: push --repair from the copy of "
                        + "the log the run was pushed from")
                }
                guard written.insert(sha).inserted else { return }
                try connection.query("""
                    UPDATE chunk_bodies SET body = \(ByteBuffer(bytes: chunk.payload)), uploaded_at = now() WHERE sha256 = \(ByteBuffer(bytes: sha))
                    AND sha256(body) != sha256
                    """, "repair a chunk body")
            }
            if let (index, _) = wanted.first {
                throw StoreError.inconsistent("tensor '\(tensor.name)' \(key.owner.label) chunk \(index) is damaged on the server and "
                    + "this log does not hold it: push --repair from the copy of the log the run was pushed from")
            }
        }
        if !written.isEmpty {
            // The body uploads of a push do not wait for the disk; this commit does, and with it
            // the repairs before it (as a step's commit makes its bodies durable).
            try connection.transaction {
                try connection.execute("SET LOCAL synchronous_commit = on", "commit durably")
                try connection.query("UPDATE runs SET pushed_at = now() WHERE id = \(runID)", "record the repair")
            }
        }
        return written.count
    }

    struct OwnerTensor: Hashable {
        var owner: ChunkOwner
        var tensorID: Int64
    }
}
