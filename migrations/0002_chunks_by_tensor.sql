-- emalog log schema 2: the chunks of one tensor in step order, so that finding a chunk's keyframe
-- or walking one chunk through its steps reads only that chunk's rows instead of every tensor's
-- rows of every earlier step (the UNIQUE (step, tensor_id, chunk_index) index is step-major).
-- Index only: a reader of this build reads a schema-1 log as it is; an ingest upgrades it.
CREATE INDEX chunks_by_tensor ON chunks (tensor_id, chunk_index, step);
