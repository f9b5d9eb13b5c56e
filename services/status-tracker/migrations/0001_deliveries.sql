-- Deliveries (one per event and webhook) and their attempts. Portable SQL: the
-- same file runs on SQLite and PostgreSQL. Times are milliseconds since the epoch.

CREATE TABLE deliveries (
    tenant           TEXT    NOT NULL,
    delivery_id      TEXT    NOT NULL,
    endpoint_id      TEXT    NOT NULL,
    event_id         TEXT    NOT NULL,
    event_type       TEXT    NOT NULL,
    job_id           TEXT,
    status           TEXT    NOT NULL,
    attempts         BIGINT  NOT NULL,
    status_code      BIGINT,
    response_time_ms BIGINT,
    last_error       TEXT,
    next_attempt_at  BIGINT,
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    PRIMARY KEY (tenant, delivery_id)
);

CREATE INDEX deliveries_by_endpoint
    ON deliveries (tenant, endpoint_id, created_at, delivery_id);

CREATE TABLE attempts (
    tenant           TEXT    NOT NULL,
    delivery_id      TEXT    NOT NULL,
    attempt          BIGINT  NOT NULL,
    trigger_kind     TEXT    NOT NULL,
    outcome          TEXT    NOT NULL,
    status_code      BIGINT,
    duration_ms      BIGINT  NOT NULL,
    error            TEXT,
    response_excerpt TEXT    NOT NULL,
    attempted_at     BIGINT  NOT NULL,
    PRIMARY KEY (tenant, delivery_id, attempt, trigger_kind)
);
