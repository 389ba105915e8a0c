-- emalog team store, schema 1: the runs pushed to this database, and chunk bodies stored once
-- by content. Never edit this file once landed: add 0002_*.sql.

-- One row per pushed run (a local log), named by `emalog push --run NAME` (default: its log id).
CREATE TABLE runs (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    log_id TEXT NOT NULL,
    chunk_bytes BIGINT NOT NULL CHECK (chunk_bytes > 0),
    created_at TEXT NOT NULL,                      -- the log's own creation time
    pushed_at TIMESTAMPTZ NOT NULL DEFAULT now()   -- the last push that changed it
);

-- Chunk bodies by the sha256 of their stored bytes: identical chunks of different runs (a
-- checkpoint pushed twice, runs forked from one) are stored once. Out of line and uncompressed
-- (STORAGE EXTERNAL): the bytes are compressed already, and a range of one can be read alone.
CREATE TABLE chunk_bodies (
    sha256 BYTEA PRIMARY KEY CHECK (length(sha256) = 32),
    body BYTEA NOT NULL
);
ALTER TABLE chunk_bodies ALTER COLUMN body SET STORAGE EXTERNAL;
