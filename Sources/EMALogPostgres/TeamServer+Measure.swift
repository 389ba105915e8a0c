public import EMALogStore
import Foundation
import PostgresNIO

/// Figures `emalog-bench` prints about a team server, so its SQL stays in this module: the
/// server's own write rate for chunk-body-sized values, the space a run's tables take, and a
/// reset between measurements.
extension TeamServer {
    /// Seconds the server takes to write `count` bodies of `bytesEach` bytes (incompressible, stored
    /// as `chunk_bodies` stores them: `bytea`, `STORAGE EXTERNAL`) with one `INSERT ... SELECT` of its
    /// own, no client in the way; the scratch table is dropped after.
    public func bodyWriteSeconds(count: Int, bytesEach: Int) throws(StoreError) -> Double {
        try connection.execute("""
            CREATE TEMP TABLE bench_source AS
                SELECT convert_to(string_agg(md5(i::text), ''), 'UTF8') AS b FROM generate_series(1, \(max(1, bytesEach / 32))) i
            """, "make the bench's source body")
        // A table like chunk_bodies (logged: a temporary one would skip the WAL, half the cost).
        try connection.execute("CREATE TABLE bench_bodies (id int, body bytea)", "make the bench's table")
        try connection.execute("ALTER TABLE bench_bodies ALTER COLUMN body SET STORAGE EXTERNAL", "store bodies as chunk_bodies does")
        let start = Date()
        try connection.execute("INSERT INTO bench_bodies SELECT g, b FROM bench_source, generate_series(1, \(count)) g", "write the bodies")
        let seconds = Date().timeIntervalSince(start)
        try connection.execute("DROP TABLE bench_bodies, bench_source", "drop the bench's tables")
        return seconds
    }

    /// Bytes the chunk bodies take on the server, and the chunk and step rows with their indexes.
    public func storageBytes() throws(StoreError) -> (bodies: Int, rows: Int) {
        try connection.row("""
            SELECT pg_total_relation_size('chunk_bodies'), pg_total_relation_size('run_chunks') + pg_total_relation_size('run_steps')
            """, "measure the tables") { try $0.decode((Int, Int).self) } ?? (0, 0)
    }

    /// Removes every run and body (a bench's server only).
    public func removeEverything() throws(StoreError) {
        try connection.execute("TRUNCATE runs, chunk_bodies CASCADE", "empty the store")
    }
}
