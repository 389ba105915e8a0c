-- emalog team store, schema 3: a run's named steps (`emalog pin`), pushed with its log.
CREATE TABLE run_pins (
    run_id BIGINT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    step BIGINT NOT NULL,
    pinned_at TEXT NOT NULL,
    PRIMARY KEY (run_id, name),
    FOREIGN KEY (run_id, step) REFERENCES run_steps(run_id, step) ON DELETE CASCADE
);
