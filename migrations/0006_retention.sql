-- emalog log schema 6: retention (`--raw-every K`, `--raw-keep-last N`, `emalog prune`). A step's
-- record stays (its number, source hash, metadata, metrics); `raw` says whether its raw weights
-- are still stored (1) or were left out by the log's retention policy (0: no chunks). Every track
-- still took the step when it was ingested, and its snapshots keep what the steps made of it.
ALTER TABLE steps ADD COLUMN raw INTEGER NOT NULL DEFAULT 1 CHECK (raw IN (0, 1));
