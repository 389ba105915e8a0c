-- emalog log schema 5: named steps (`emalog pin --step S --name NAME`). Readers take the name for
-- `--step`; a pinned step's raw weights survive every retention policy. A name is 1 to 200
-- characters without control characters (checked by emalog when written and when read).
CREATE TABLE pins (
    name TEXT PRIMARY KEY NOT NULL,
    step INTEGER NOT NULL REFERENCES steps(step),
    pinned_at TEXT NOT NULL
) STRICT;
