public import EMALogStore
import PostgresNIO

extension TeamServer {
    /// Deletes the chunk bodies that no run's chunk row names (a pruned, replaced or truncated
    /// run's), in batches of `batch`, each its own transaction. A body uploaded or found present
    /// by a push within the last `graceSeconds` stays: that push's rows may not have committed
    /// yet. A push that finds a body while gc deletes it waits for the delete and uploads it
    /// again (its lookup is an update of the row), so gc is safe while pushes run.
    public func collectGarbage(dryRun: Bool, graceSeconds: Int, batch: Int = 2000) throws(StoreError) -> CollectedBodies {
        var collected = CollectedBodies(dryRun: dryRun)
        guard !isBare else { return collected }
        let unnamed = """
            NOT EXISTS (SELECT 1 FROM run_chunks c WHERE c.sha256 = b.sha256)
            AND NOT EXISTS (SELECT 1 FROM run_snapshot_chunks s WHERE s.sha256 = b.sha256)
            """
        let old = "b.uploaded_at < now() - make_interval(secs => \(graceSeconds))"
        if let (spared) = try connection.row(PostgresQuery(unsafeSQL: """
            SELECT count(*)::BIGINT FROM chunk_bodies b WHERE \(unnamed) AND NOT (\(old))
            """), "count the bodies within the grace period", { try $0.decode(Int.self) }) {
            collected.spared = spared
        }
        if dryRun {
            if let (count, bytes) = try connection.row(PostgresQuery(unsafeSQL: """
                SELECT count(*)::BIGINT, coalesce(sum(length(b.body)), 0)::BIGINT FROM chunk_bodies b WHERE \(unnamed) AND \(old)
                """), "count the bodies to collect", { try $0.decode((Int, Int).self) }) {
                collected.bodies = count
                collected.bytes = bytes
            }
            return collected
        }
        while true {
            let rows = try connection.rows(PostgresQuery(unsafeSQL: """
                DELETE FROM chunk_bodies WHERE sha256 IN (
                    SELECT b.sha256 FROM chunk_bodies b WHERE \(unnamed) AND \(old) LIMIT \(batch) FOR UPDATE SKIP LOCKED)
                AND uploaded_at < now() - make_interval(secs => \(graceSeconds))
                RETURNING length(body)::BIGINT
                """), "collect unnamed chunk bodies", { try $0.decode(Int.self) })
            collected.bodies += rows.count
            collected.bytes += rows.reduce(0, +)
            if rows.count < batch { break }
        }
        return collected
    }
}
