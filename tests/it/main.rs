//! Herald's integration tests: one binary, every test with its own nats-server,
//! its own Herald and its own receiver.

mod api_errors;
mod backlog;
mod cluster;
mod config;
mod db_pool;
mod delivery;
mod drain;
mod engine;
mod event_size;
mod formats;
mod hardening;
mod intake_rules;
mod isolation;
mod jobs;
mod least_privilege;
mod limits;
mod make_run;
mod metrics;
mod names;
mod nats_auth;
mod nats_intake;
mod publish;
mod readiness;
mod retries;
mod sealed_headers;
mod signing;
mod storage;
mod store;
mod store_batches;
mod store_queries;
mod telemetry;
mod test_deliveries;
mod trace_urls;
mod traces;
mod webhooks;
