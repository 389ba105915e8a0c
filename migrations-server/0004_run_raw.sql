-- emalog team store, schema 4: retention. A pushed step's record stays when the log's retention
-- policy left its raw weights out (`raw` false: it has no chunks on the server either).
ALTER TABLE run_steps ADD COLUMN raw BOOLEAN NOT NULL DEFAULT TRUE;
