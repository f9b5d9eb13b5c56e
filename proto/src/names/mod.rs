//! Every internal name the services share, defined once: NATS subjects and their
//! builders, streams, buckets and consumers, header names, delivery status words,
//! the record types on `OUTCOMES` and the event types Herald sends itself.
//!
//! Other crates use these and never spell the strings out; a test in
//! `tests/it/names.rs` fails when one of the `const` strings here appears as a
//! literal in a service's code. The strings are the wire format: deployments,
//! broker permissions and stored data name them, so they do not change.
//!
//! # Layout
//! - [`subject`]: subject tokens, stream and consumer filters, whole subjects.
//! - [`stream`]: streams, KV buckets and their keys.
//! - [`consumer`]: durable consumers, queue groups and client names.
//! - [`header`]: NATS headers Herald sets or reads, and HTTP headers it sends.
//! - [`status`]: [`DeliveryStatus`], the documented words of a delivery's state.
//! - [`record`]: [`RecordType`], what a record on `OUTCOMES` is.
//! - [`event_type`]: the event types Herald sends itself.

pub mod consumer;
pub mod event_type;
pub mod header;
pub mod record;
pub mod status;
pub mod stream;
pub mod subject;

pub use record::RecordType;
pub use status::DeliveryStatus;
