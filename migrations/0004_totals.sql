-- emalog log schema 4: running totals of the raw-step chunks (per codec) and of the metric blocks,
-- so `info` reads a few rows instead of every chunk (a 100k-step log is a gigabyte of chunk
-- pages). `audit` compares them with the rows themselves; logs of schemas 1-3 are summed from the
-- rows. The chunk totals are kept by the store's writer, which adds each write's chunks per codec
-- when it commits (a trigger per chunk made an ingest of 10k small tensors 1.6x slower); the
-- metric totals by triggers (a block is written once per key per batch, not per value).
CREATE TABLE chunk_totals (
    codec TEXT PRIMARY KEY NOT NULL,
    chunks INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL
) STRICT;

INSERT INTO chunk_totals (codec, chunks, stored_bytes, raw_bytes)
    SELECT codec, count(*), sum(length(data)), sum(raw_size) FROM chunks GROUP BY codec;

-- How many values the metric blocks hold, without reading them.
CREATE TABLE metric_block_totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    blocks INTEGER NOT NULL,
    value_count INTEGER NOT NULL
) STRICT;

INSERT INTO metric_block_totals (id, blocks, value_count)
    SELECT 1, count(*), coalesce(sum(count), 0) FROM metric_blocks;

CREATE TRIGGER metric_block_totals_insert AFTER INSERT ON metric_blocks BEGIN
    UPDATE metric_block_totals SET blocks = blocks + 1, value_count = value_count + NEW.count WHERE id = 1;
END;

CREATE TRIGGER metric_block_totals_delete AFTER DELETE ON metric_blocks BEGIN
    UPDATE metric_block_totals SET blocks = blocks - 1, value_count = value_count - OLD.count WHERE id = 1;
END;

CREATE TRIGGER metric_block_totals_update AFTER UPDATE OF count ON metric_blocks BEGIN
    UPDATE metric_block_totals SET value_count = value_count - OLD.count + NEW.count WHERE id = 1;
END;
