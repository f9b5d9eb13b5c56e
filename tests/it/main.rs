//! Herald's integration tests: one binary, every test with its own nats-server,
//! its own Herald and its own receiver.

mod api_errors;
mod config;
mod delivery;
mod drain;
mod engine;
mod formats;
mod intake_rules;
mod isolation;
mod jobs;
mod limits;
mod metrics;
mod nats_intake;
mod retries;
mod signing;
mod store;
mod test_deliveries;
mod traces;
mod webhooks;
