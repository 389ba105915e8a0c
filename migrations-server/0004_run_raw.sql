-- emalog team store, schema 4: retention. A pushed step's record stays when the log's retention
-- policy left its raw weights out (`raw` false: it has no chunks on the server either).
ALTER TABLE run_steps ADD COLUMN raw BOOLEAN NOT NULL DEFAULT TRUE;

-- `emalog gc` collects the bodies no chunk row names any more (a pruned or replaced run's). A body
-- uploaded or found present by a push within the grace period is never collected: the push's
-- rows that name it may not have committed yet.
ALTER TABLE chunk_bodies ADD COLUMN uploaded_at TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX run_chunks_by_body ON run_chunks (sha256);
CREATE INDEX run_snapshot_chunks_by_body ON run_snapshot_chunks (sha256);
