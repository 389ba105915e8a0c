-- emalog log schema 4: running totals of the raw-step chunks (per codec) and of the metric blocks,
-- so `info` reads a few rows instead of every chunk (a 100k-step log is a gigabyte of chunk
-- pages). Kept by triggers, so every path that adds, replaces or removes a row keeps them exact;
-- `audit` compares them with the rows themselves. Logs of schemas 1-3 are summed from the rows.
CREATE TABLE chunk_totals (
    codec TEXT PRIMARY KEY NOT NULL,
    chunks INTEGER NOT NULL,
    stored_bytes INTEGER NOT NULL,
    raw_bytes INTEGER NOT NULL
) STRICT;

INSERT INTO chunk_totals (codec, chunks, stored_bytes, raw_bytes)
    SELECT codec, count(*), sum(length(data)), sum(raw_size) FROM chunks GROUP BY codec;

CREATE TRIGGER chunk_totals_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunk_totals (codec, chunks, stored_bytes, raw_bytes)
        VALUES (NEW.codec, 1, length(NEW.data), NEW.raw_size)
        ON CONFLICT (codec) DO UPDATE SET chunks = chunks + 1, stored_bytes = stored_bytes + excluded.stored_bytes,
                                         raw_bytes = raw_bytes + excluded.raw_bytes;
END;

CREATE TRIGGER chunk_totals_delete AFTER DELETE ON chunks BEGIN
    UPDATE chunk_totals SET chunks = chunks - 1, stored_bytes = stored_bytes - length(OLD.data),
                            raw_bytes = raw_bytes - OLD.raw_size
        WHERE codec = OLD.codec;
END;

CREATE TRIGGER chunk_totals_update AFTER UPDATE OF codec, raw_size, data ON chunks BEGIN
    UPDATE chunk_totals SET chunks = chunks - 1, stored_bytes = stored_bytes - length(OLD.data),
                            raw_bytes = raw_bytes - OLD.raw_size
        WHERE codec = OLD.codec;
    INSERT INTO chunk_totals (codec, chunks, stored_bytes, raw_bytes)
        VALUES (NEW.codec, 1, length(NEW.data), NEW.raw_size)
        ON CONFLICT (codec) DO UPDATE SET chunks = chunks + 1, stored_bytes = stored_bytes + excluded.stored_bytes,
                                         raw_bytes = raw_bytes + excluded.raw_bytes;
END;

-- The same for metric blocks: how many values they hold, without reading them.
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
