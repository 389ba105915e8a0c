-- emalog log schema 3: metrics by key in blocks of steps. A key's history is a few rows (250
-- values, 4 KB, each: four to a 16 KB page, kept in the row rather than in overflow pages), so
-- reading one key reads only its blocks, whatever else the log holds, and an ingest writes one
-- row per key and block instead of one per value. Values that schemas 1-2 wrote stay in
-- `metrics` and are read alongside.
CREATE TABLE metric_blocks (
    id INTEGER PRIMARY KEY,
    key_id INTEGER NOT NULL REFERENCES metric_keys(id),
    first_step INTEGER NOT NULL CHECK (first_step >= 0),
    last_step INTEGER NOT NULL CHECK (last_step >= first_step),
    count INTEGER NOT NULL CHECK (count >= 1),
    data BLOB NOT NULL,  -- count x (step as Int64, value as the Float64's bits), little-endian, steps ascending
    UNIQUE (key_id, first_step)
) STRICT;
