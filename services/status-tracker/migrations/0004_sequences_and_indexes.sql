-- Records are ordered by their OUTCOMES stream sequence, not by the clocks of the
-- hosts that wrote them; attempts are keyed by the record that reported them, so
-- every execution (two manual retries with the same number, say) is a row of its
-- own; and the indexes the API's reads and retention need.

-- Attempts: one row per attempt record (`DeliveryAttempt::message_id`), with the
-- record's stream sequence. Rows from before keep a made-up id and sequence 0, so
-- they sort first, in the order they had.
CREATE TABLE attempt_records (
    tenant           TEXT    NOT NULL,
    delivery_id      TEXT    NOT NULL,
    record_id        TEXT    NOT NULL,
    sequence         BIGINT  NOT NULL,
    -- The task's own number (the retry-scheduler counts automatic attempts by it).
    attempt          BIGINT  NOT NULL,
    trigger_kind     TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    status_code      BIGINT,
    duration_ms      BIGINT  NOT NULL,
    error            TEXT,
    response_excerpt TEXT    NOT NULL,
    attempted_at     BIGINT  NOT NULL,
    endpoint_id      TEXT,
    PRIMARY KEY (tenant, delivery_id, record_id)
);

INSERT INTO attempt_records (tenant, delivery_id, record_id, sequence, attempt, trigger_kind,
    outcome, status_code, duration_ms, error, response_excerpt, attempted_at, endpoint_id)
SELECT tenant, delivery_id, 'before-sequences:' || trigger_kind || ':' || CAST(attempt AS TEXT),
    0, attempt, trigger_kind, outcome, status_code, duration_ms, error, response_excerpt,
    attempted_at, endpoint_id
FROM attempts;

DROP TABLE attempts;
ALTER TABLE attempt_records RENAME TO attempts;
CREATE INDEX attempts_by_endpoint ON attempts (tenant, endpoint_id, attempted_at);
CREATE INDEX attempts_by_time ON attempts (attempted_at);

-- The stream sequence of the attempt record that last moved the delivery (only a
-- higher one moves it again), and of its latest automatic attempt (the only one a
-- retry decision may still apply to).
ALTER TABLE deliveries ADD COLUMN last_sequence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN auto_sequence BIGINT NOT NULL DEFAULT 0;

-- A webhook's deliveries of one status, newest first (the list's `status` filter,
-- and the failed deliveries `recover` pages through).
CREATE INDEX deliveries_by_endpoint_status
    ON deliveries (tenant, endpoint_id, status, created_at, delivery_id);
-- An event's deliveries (`GET /v1/events/{id}`).
CREATE INDEX deliveries_by_event ON deliveries (tenant, event_id, endpoint_id);
-- Retention prunes deliveries by `updated_at`; nothing reads by `created_at` alone.
DROP INDEX deliveries_by_time;
CREATE INDEX deliveries_by_update ON deliveries (updated_at);
-- A job's history in its order, paged by (occurred_at, accepted_at, event_id).
DROP INDEX events_by_job;
CREATE INDEX events_by_job ON events (tenant, job_id, occurred_at, accepted_at, event_id);
-- Retention prunes jobs by `updated_at`.
CREATE INDEX jobs_by_update ON jobs (updated_at);
