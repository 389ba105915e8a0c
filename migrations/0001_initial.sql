-- emalog log schema 1: raw steps in checksummed chunks, EMA tracks with step-tagged snapshots,
-- metrics, and the audit trail of every ingest. Never edit this file once landed: add 0002_*.sql.

-- Identity and settings of the log (log_id, created_at, chunk_bytes).
CREATE TABLE log_info (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- One row per `emalog ingest` that wrote something: the audit trail.
CREATE TABLE ingests (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    emalog_version TEXT NOT NULL,
    arguments TEXT NOT NULL,      -- JSON array: the command line
    configuration TEXT NOT NULL   -- JSON object: tracks, snapshot interval, options
) STRICT;

-- The log's tensor set, fixed by its first step: every step has exactly these tensors.
CREATE TABLE tensors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,          -- JSON array of dimensions, [] for a 0-d tensor
    element_count INTEGER NOT NULL CHECK (element_count >= 0),
    position INTEGER NOT NULL UNIQUE  -- order of the tensor's data in the first step's file
) STRICT;

-- One row per ingested training step.
CREATE TABLE steps (
    step INTEGER PRIMARY KEY CHECK (step >= 0),
    ingest_id INTEGER NOT NULL REFERENCES ingests(id),
    source_path TEXT NOT NULL,
    source_size INTEGER NOT NULL,
    source_xxh64 TEXT NOT NULL,   -- XXH64 of the whole source file, 16 hex digits
    metadata TEXT NOT NULL,       -- the file's __metadata__, a JSON object of strings
    ingested_at TEXT NOT NULL
) STRICT;

-- Raw tensor bytes (little-endian, as in the file), split in chunks of at most 64 MiB.
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    step INTEGER NOT NULL REFERENCES steps(step),
    tensor_id INTEGER NOT NULL REFERENCES tensors(id),
    chunk_index INTEGER NOT NULL CHECK (chunk_index >= 0),
    codec TEXT NOT NULL,          -- 'plain': the bytes as they are
    raw_size INTEGER NOT NULL CHECK (raw_size >= 0),
    xxh64 INTEGER NOT NULL,       -- XXH64 of the decoded bytes, as a signed 64-bit integer
    data BLOB NOT NULL,
    UNIQUE (step, tensor_id, chunk_index)
) STRICT;

-- EMA profiles maintained at ingest.
CREATE TABLE tracks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,           -- canonical spec: decay=...,schedule=...,form=...
    ingest_id INTEGER NOT NULL REFERENCES ingests(id)
) STRICT;

-- A track's shadow after the update of `step`.
CREATE TABLE snapshots (
    id INTEGER PRIMARY KEY,
    track_id INTEGER NOT NULL REFERENCES tracks(id),
    step INTEGER NOT NULL REFERENCES steps(step),
    created_at TEXT NOT NULL,
    UNIQUE (track_id, step)
) STRICT;

-- Float32 shadow bytes of each floating tensor (integer tensors are the raw step's).
CREATE TABLE snapshot_chunks (
    id INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    tensor_id INTEGER NOT NULL REFERENCES tensors(id),
    chunk_index INTEGER NOT NULL CHECK (chunk_index >= 0),
    codec TEXT NOT NULL,
    raw_size INTEGER NOT NULL CHECK (raw_size >= 0),
    xxh64 INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (snapshot_id, tensor_id, chunk_index)
) STRICT;

CREATE TABLE metric_keys (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
) STRICT;

-- Scalar metrics, keyed in the order they arrive (by step). SQLite cannot store NaN: NULL stands for it.
CREATE TABLE metrics (
    step INTEGER NOT NULL CHECK (step >= 0),
    key_id INTEGER NOT NULL REFERENCES metric_keys(id),
    value REAL,
    PRIMARY KEY (step, key_id)
) STRICT, WITHOUT ROWID;
