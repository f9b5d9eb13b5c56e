-- Accepted events, with the producer's data, so deliveries can be attempted again
-- by hand after the broker's replay window and events can be looked up by id.

CREATE TABLE events (
    tenant       TEXT   NOT NULL,
    event_id     TEXT   NOT NULL,
    event_type   TEXT   NOT NULL,
    job_id       TEXT,
    data         TEXT   NOT NULL,
    occurred_at  BIGINT NOT NULL,
    accepted_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant, event_id)
);

CREATE INDEX events_by_job ON events (tenant, job_id, accepted_at);
