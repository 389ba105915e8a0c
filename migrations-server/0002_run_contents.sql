-- emalog team store, schema 2: what a pushed run holds, as its local log holds it (ids are the
-- log's own), each row keyed by its run. Chunk rows name their body by sha256 (chunk_bodies);
-- metrics are kept in blocks of steps per key. Never edit this file once landed: add 0003_*.sql.

-- Totals `emalog runs` lists without counting rows; each push brings them up to date at its end.
ALTER TABLE runs
    ADD COLUMN step_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN last_step BIGINT,
    ADD COLUMN tensor_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN track_count BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN stored_bytes BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN metric_values BIGINT NOT NULL DEFAULT 0,
    -- A rank of sharded training: its log holds dim-0 slices of the tensors; the ranks of one
    -- group (named by `push --run GROUP --rank R --ranks N`, each run named GROUP/rankR) are
    -- read together as the full tensors.
    ADD COLUMN shard_group TEXT,
    ADD COLUMN shard_rank INTEGER,
    ADD COLUMN shard_count INTEGER,
    ADD CONSTRAINT runs_shard CHECK ((shard_group IS NULL AND shard_rank IS NULL AND shard_count IS NULL)
        OR (shard_group IS NOT NULL AND shard_count >= 1 AND shard_rank >= 0 AND shard_rank < shard_count)),
    ADD CONSTRAINT runs_shard_rank UNIQUE (shard_group, shard_rank);

CREATE TABLE run_ingests (
    run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    started_at TEXT NOT NULL,
    emalog_version TEXT NOT NULL,
    arguments TEXT NOT NULL,
    configuration TEXT NOT NULL,
    PRIMARY KEY (run_id, id)
);

CREATE TABLE run_tensors (
    run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    element_count BIGINT NOT NULL CHECK (element_count >= 0),
    position BIGINT NOT NULL,
    PRIMARY KEY (run_id, id),
    UNIQUE (run_id, name),
    UNIQUE (run_id, position)
);

CREATE TABLE run_steps (
    run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step BIGINT NOT NULL CHECK (step >= 0),
    ingest_id BIGINT NOT NULL,
    source_path TEXT NOT NULL,
    source_size BIGINT NOT NULL,
    source_xxh64 TEXT NOT NULL,
    metadata TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    PRIMARY KEY (run_id, step)
);

-- Keyed the way replays read them: one chunk of one tensor, step after step.
CREATE TABLE run_chunks (
    run_id BIGINT NOT NULL,
    tensor_id BIGINT NOT NULL,
    chunk_index INTEGER NOT NULL CHECK (chunk_index >= 0),
    step BIGINT NOT NULL,
    codec TEXT NOT NULL,
    raw_size BIGINT NOT NULL CHECK (raw_size >= 0),
    xxh64 BIGINT NOT NULL,
    stored_size BIGINT NOT NULL CHECK (stored_size >= 0),
    sha256 BYTEA NOT NULL REFERENCES chunk_bodies(sha256),
    PRIMARY KEY (run_id, tensor_id, chunk_index, step),
    FOREIGN KEY (run_id, step) REFERENCES run_steps(run_id, step) ON DELETE CASCADE
);
CREATE INDEX run_chunks_by_step ON run_chunks (run_id, step, tensor_id);

CREATE TABLE run_tracks (
    run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    PRIMARY KEY (run_id, id),
    UNIQUE (run_id, name)
);

CREATE TABLE run_snapshots (
    run_id BIGINT NOT NULL,
    id BIGINT NOT NULL,
    track_id BIGINT NOT NULL,
    step BIGINT NOT NULL,
    PRIMARY KEY (run_id, id),
    UNIQUE (run_id, track_id, step),
    FOREIGN KEY (run_id, track_id) REFERENCES run_tracks(run_id, id) ON DELETE CASCADE
);

CREATE TABLE run_snapshot_chunks (
    run_id BIGINT NOT NULL,
    snapshot_id BIGINT NOT NULL,
    tensor_id BIGINT NOT NULL,
    chunk_index INTEGER NOT NULL CHECK (chunk_index >= 0),
    codec TEXT NOT NULL,
    raw_size BIGINT NOT NULL CHECK (raw_size >= 0),
    xxh64 BIGINT NOT NULL,
    stored_size BIGINT NOT NULL CHECK (stored_size >= 0),
    sha256 BYTEA NOT NULL REFERENCES chunk_bodies(sha256),
    PRIMARY KEY (run_id, snapshot_id, tensor_id, chunk_index),
    FOREIGN KEY (run_id, snapshot_id) REFERENCES run_snapshots(run_id, id) ON DELETE CASCADE
);

CREATE TABLE run_metric_keys (
    run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    id BIGINT NOT NULL,
    name TEXT NOT NULL,
    PRIMARY KEY (run_id, id),
    UNIQUE (run_id, name)
);

-- A key's values in blocks of consecutive stored values (block k holds values k*N..<(k+1)*N of
-- the key's history, N fixed by the pusher): count x (step as Int64, value as the Float64's
-- bits), little-endian, steps ascending; xxh64 of data lets a push skip blocks that are equal.
CREATE TABLE run_metric_blocks (
    run_id BIGINT NOT NULL,
    key_id BIGINT NOT NULL,
    block_index INTEGER NOT NULL CHECK (block_index >= 0),
    first_step BIGINT NOT NULL,
    last_step BIGINT NOT NULL CHECK (last_step >= first_step),
    count INTEGER NOT NULL CHECK (count >= 1),
    xxh64 BIGINT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (run_id, key_id, block_index),
    FOREIGN KEY (run_id, key_id) REFERENCES run_metric_keys(run_id, id) ON DELETE CASCADE
);
CREATE INDEX run_metric_blocks_by_step ON run_metric_blocks (run_id, key_id, last_step);
