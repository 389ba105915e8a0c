import Crypto
import EMALogFormats
import EMALogStore
import Foundation
import NIOCore
import PostgresNIO
import Synchronization

/// Bodies of one item, uploaded in statements of about `ServerPushTarget.uploadBytes`: the hashes the
/// server lacks are asked first, so a body it has (from this run or another) is never sent.
struct BodyUploader {
    let connection: ServerConnection
    private var pending: [(sha: ByteBuffer, digest: Data, body: ByteBuffer)] = []
    private var pendingBytes = 0
    var uploaded = 0
    var uploadedBytes = 0
    var sharedBytes = 0
    /// Bodies the server held damaged, written again.
    var repaired = 0

    /// Bodies this large go up one per statement.
    static let aloneBytes = 256 << 10

    /// A body already there stays, unless it is damaged (another push's upload of the same
    /// bytes is the same row; a damaged one is replaced by the bytes its name says).
    static let onConflict = "ON CONFLICT (sha256) DO UPDATE SET body = excluded.body, uploaded_at = now() WHERE sha256(chunk_bodies.body) != chunk_bodies.sha256"

    init(connection: ServerConnection) { self.connection = connection }

    mutating func add(_ chunk: StoredChunk, tensorID: Int64) throws -> ServerPushWorker.ChunkRow {
        let digest = Data(SHA256.hash(data: chunk.payload))
        let sha = ByteBuffer(bytes: digest)
        pending.append((sha, digest, ByteBuffer(bytes: chunk.payload)))
        pendingBytes += chunk.payload.count
        if pendingBytes >= ServerPushTarget.uploadBytes || pending.count >= 4096 { try flush() }
        return ServerPushWorker.ChunkRow(tensorID: tensorID, index: chunk.header.index, codec: chunk.header.codec.rawValue,
                                rawSize: chunk.header.rawSize, checksum: chunk.header.checksum, storedSize: chunk.payload.count,
                                sha256: sha)
    }

    mutating func flush() throws {
        guard !pending.isEmpty else { return }
        defer { pending = []; pendingBytes = 0 }
        // Only a body the server hashes to its name is reused; a damaged one is written again. A
        // present body is touched as it is found (`uploaded_at`): `emalog gc` leaves it alone while
        // the rows that will name it are not committed yet. Rows are locked in hash order, so two
        // lookups that share bodies wait for each other instead of deadlocking, and with NO KEY
        // UPDATE, which the KEY SHARE locks a commit's foreign keys take do not conflict with (a
        // commit naming a body and a lookup touching it never wait for each other).
        var present = Set<Data>()
        for (sha, intact) in try connection.rows("""
            UPDATE chunk_bodies b SET uploaded_at = now()
            FROM (SELECT sha256 FROM chunk_bodies WHERE sha256 = ANY(\(pending.map(\.sha))) ORDER BY sha256 FOR NO KEY UPDATE) locked
            WHERE b.sha256 = locked.sha256
            RETURNING b.sha256, sha256(b.body) = b.sha256
            """, "look up chunk bodies", { try $0.decode((ByteBuffer, Bool).self) }) {
            if intact { present.insert(Data(sha.readableBytesView)) } else { repaired += 1 }
        }
        var seen = Set<Data>()
        var shas: [ByteBuffer] = [], bodies: [ByteBuffer] = []
        for item in pending {
            if present.contains(item.digest) || !seen.insert(item.digest).inserted {
                sharedBytes += item.body.readableBytes
                continue
            }
            shas.append(item.sha)
            bodies.append(item.body)
            uploadedBytes += item.body.readableBytes
        }
        uploaded += shas.count
        // Small bodies many to a statement, as arrays; a large one alone, as a plain parameter (an
        // array of large values costs the server several copies: a third of the speed).
        var small: [Int] = []
        for i in shas.indices {
            if bodies[i].readableBytes < Self.aloneBytes { small.append(i); continue }
            try connection.query("""
                INSERT INTO chunk_bodies (sha256, body) VALUES (\(shas[i]), \(bodies[i])) \(unescaped: Self.onConflict)
                """, "upload a chunk body")
        }
        guard !small.isEmpty else { return }
        try connection.query("""
            INSERT INTO chunk_bodies (sha256, body)
            SELECT * FROM unnest(\(small.map { shas[$0] })::BYTEA[], \(small.map { bodies[$0] })::BYTEA[]) \(unescaped: Self.onConflict)
            """, "upload chunk bodies")
    }
}
