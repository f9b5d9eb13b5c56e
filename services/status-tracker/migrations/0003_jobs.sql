-- Jobs (the polling fallback) and the webhook of each attempt (for statistics).

CREATE TABLE jobs (
    tenant       TEXT   NOT NULL,
    job_id       TEXT   NOT NULL,
    job_type     TEXT,
    status       TEXT   NOT NULL,
    -- When the event that set `status` happened; older events do not move it.
    status_at    BIGINT NOT NULL,
    terminal     BIGINT NOT NULL,
    progress     DOUBLE PRECISION,
    progress_at  BIGINT,
    result       TEXT,
    error        TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (tenant, job_id)
);

ALTER TABLE attempts ADD COLUMN endpoint_id TEXT;

CREATE INDEX attempts_by_endpoint ON attempts (tenant, endpoint_id, attempted_at);
CREATE INDEX attempts_by_time ON attempts (attempted_at);
CREATE INDEX deliveries_by_time ON deliveries (created_at);
CREATE INDEX events_by_time ON events (accepted_at);
