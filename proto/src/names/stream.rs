//! JetStream streams and KV buckets, and the keys of the buckets whose keys are
//! built rather than given.

/// Producers' raw events, `ingest.<tenant>.<event_type>`; a work queue.
pub const INGEST: &str = "INGEST";
/// Accepted events, `events.<tenant>.<event_type>`; kept for replay.
pub const EVENTS: &str = "EVENTS";
/// Delivery tasks `deliveries.<partition>.<tenant>.<endpoint_id>` and retries held
/// by the server until due, `schedules.<tenant>.<endpoint>.<delivery>`.
pub const DELIVERIES: &str = "DELIVERIES";
/// Tasks a dispatcher moved out of its consumer because their endpoint is busy,
/// `parked.<partition>.<tenant>.<endpoint_id>`.
pub const PARKED: &str = "PARKED";
/// Attempt records, retry decisions and fan-outs, `outcomes.>`.
pub const OUTCOMES: &str = "OUTCOMES";
/// Messages that could not be accepted, `rejected.<tenant>`.
pub const REJECTED: &str = "REJECTED";

/// KV bucket of endpoint definitions, keyed `<tenant>.<endpoint_id>`.
pub const ENDPOINTS_BUCKET: &str = "endpoints";
/// KV bucket of per-job callback targets, keyed `<tenant>.<job_id>`.
pub const JOB_CALLBACKS_BUCKET: &str = "job-callbacks";
/// KV bucket of per-tenant secrets, keyed [`callback_secret_key`].
pub const TENANT_SECRETS_BUCKET: &str = "tenant-secrets";
/// KV bucket of dispatcher membership ([`member_key`]) and partition leases
/// ([`partition_key`]).
pub const LEASES_BUCKET: &str = "dispatcher-leases";

/// First token of a dispatcher replica's membership key in [`LEASES_BUCKET`].
pub const MEMBERS: &str = "members";
/// First token of a partition's lease key in [`LEASES_BUCKET`].
pub const PARTITIONS: &str = "partitions";

/// `members.<replica>`.
pub fn member_key(replica: &str) -> String {
    format!("{MEMBERS}.{replica}")
}

/// The prefix every membership key starts with, `members.`.
pub fn members_prefix() -> String {
    format!("{MEMBERS}.")
}

/// `partitions.<n>`.
pub fn partition_key(partition: u32) -> String {
    format!("{PARTITIONS}.{partition}")
}

/// The key of `tenant`'s job-callback signing secret in [`TENANT_SECRETS_BUCKET`]:
/// `<tenant>.callback`.
pub fn callback_secret_key(tenant: &str) -> String {
    format!("{tenant}.callback")
}
