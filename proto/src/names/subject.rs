//! NATS subjects: the first token of each kind, the filters streams and consumers
//! use, and the builders of whole subjects.

use crate::delivery::partition_of;

/// `ingest.<tenant>.<event_type>`: producers' raw events.
pub const INGEST: &str = "ingest";
/// `events.<tenant>.<event_type>`: accepted events.
pub const EVENTS: &str = "events";
/// `deliveries.<partition>.<tenant>.<endpoint_id>`: delivery tasks.
pub const DELIVERIES: &str = "deliveries";
/// `schedules.<tenant>.<endpoint_id>.<delivery_id>`: retries held until due.
pub const SCHEDULES: &str = "schedules";
/// `parked.<partition>.<tenant>.<endpoint_id>`: tasks waiting for a busy endpoint.
pub const PARKED: &str = "parked";
/// `outcomes.<tenant>.…`: attempt records, retry decisions, fan-outs, bundles.
pub const OUTCOMES: &str = "outcomes";
/// `rejected.<tenant>`: messages that could not be accepted.
pub const REJECTED: &str = "rejected";

pub const INGEST_ALL: &str = "ingest.>";
pub const EVENTS_ALL: &str = "events.>";
pub const DELIVERIES_ALL: &str = "deliveries.>";
pub const SCHEDULES_ALL: &str = "schedules.>";
pub const PARKED_ALL: &str = "parked.>";
pub const OUTCOMES_ALL: &str = "outcomes.>";
pub const REJECTED_ALL: &str = "rejected.>";
/// Failed attempts alone: what the retry-scheduler reads.
pub const OUTCOMES_FAILED: &str = "outcomes.*.*.failed";

/// Last token of a succeeded attempt's subject.
pub const SUCCEEDED: &str = "succeeded";
/// Last token of a failed attempt's subject.
pub const FAILED: &str = "failed";
/// Last token of a decision that scheduled a retry.
pub const SCHEDULED: &str = "scheduled";
/// Last token of a decision that found no attempt left.
pub const EXHAUSTED: &str = "exhausted";
/// The tail of a fan-out's subject, after the tenant.
pub const FAN_OUT_TAIL: &str = "_fanout.pending";
/// The tail of a bundle's subject, after the tenant.
pub const BUNDLE_TAIL: &str = "_bundle.records";
/// The tenant token of a rejected message whose subject names no valid tenant.
pub const UNKNOWN_TENANT: &str = "_unknown";

/// Where the status-tracker answers a `StatusQuery`.
pub const STATUS_QUERY: &str = "herald.query.status";
/// Where the status-tracker answers "what can be retried by hand".
pub const RETRYABLE_QUERY: &str = "herald.query.deliveries.retryable";
/// Every query the status-tracker answers.
pub const QUERY_ALL: &str = "herald.query.>";
/// Where the dispatcher answers test deliveries.
pub const TEST_DELIVERY: &str = "herald.dispatch.test";
/// First tokens of the core NATS subjects job changes are announced on.
pub const JOB_CHANGES: &str = "herald.jobs";
/// First tokens of the core NATS subjects listening sessions get their requests on.
pub const LISTEN: &str = "herald.listen";
/// Every listening session's requests.
pub const LISTEN_ALL: &str = "herald.listen.>";
/// First token of every reply subject a Herald service listens on:
/// `_HERALD_INBOX.<service>.<id>`. One prefix per service lets the broker's
/// permissions give each service only its own replies, and keeps them apart from
/// producers' `_INBOX.>` (see `docs/nats-security.md`).
pub const INBOX: &str = "_HERALD_INBOX";

/// `events.<tenant>.<event_type>`.
pub fn event(tenant: &str, event_type: &str) -> String {
    format!("{EVENTS}.{tenant}.{event_type}")
}

/// Live events of `tenant` matching `pattern`: `events.<tenant>.<pattern>`.
pub fn events_matching(tenant: &str, pattern: &str) -> String {
    event(tenant, pattern)
}

/// `(tenant, event_type)` of `ingest.<tenant>.<event_type>`: the part after
/// `ingest.`, split at its first dot; empty strings for what is missing.
pub fn split_ingest(subject: &str) -> (&str, &str) {
    let rest = subject
        .strip_prefix(INGEST)
        .and_then(|s| s.strip_prefix('.'))
        .unwrap_or("");
    rest.split_once('.').unwrap_or((rest, ""))
}

/// The subject of delivery tasks for one endpoint:
/// `deliveries.<partition>.<tenant>.<endpoint_id>`.
pub fn delivery(tenant: &str, endpoint_id: &str) -> String {
    format!(
        "{DELIVERIES}.{}.{tenant}.{endpoint_id}",
        partition_of(tenant, endpoint_id)
    )
}

/// Every task of one partition: `deliveries.<partition>.>`.
pub fn deliveries_of_partition(partition: u32) -> String {
    format!("{DELIVERIES}.{partition}.>")
}

/// The subject an endpoint's excess tasks wait on while it is busy:
/// `parked.<partition>.<tenant>.<endpoint_id>`.
pub fn parked(tenant: &str, endpoint_id: &str) -> String {
    format!(
        "{PARKED}.{}.{tenant}.{endpoint_id}",
        partition_of(tenant, endpoint_id)
    )
}

/// Every parked task of one partition: `parked.<partition>.>`.
pub fn parked_of_partition(partition: u32) -> String {
    format!("{PARKED}.{partition}.>")
}

/// `(partition, tenant, endpoint_id)` of a `deliveries.>` or `parked.>` subject.
pub fn split_task(subject: &str) -> Option<(u32, &str, &str)> {
    let mut parts = subject.splitn(4, '.');
    let _kind = parts.next()?;
    let partition = parts.next()?.parse().ok()?;
    let tenant = parts.next()?;
    let endpoint_id = parts.next()?;
    (!tenant.is_empty() && !endpoint_id.is_empty() && !endpoint_id.contains('.')).then_some((
        partition,
        tenant,
        endpoint_id,
    ))
}

/// `<tenant>.<endpoint_id>` of a well-formed `deliveries.>` or `parked.>` subject:
/// its tail, borrowed.
pub fn lane_key(subject: &str) -> Option<&str> {
    split_task(subject)?;
    subject.splitn(3, '.').nth(2)
}

/// The [`lane_key`] of `tenant`'s endpoint `endpoint_id`'s tasks, from its parts.
pub fn lane_key_of(tenant: &str, endpoint_id: &str) -> String {
    format!("{tenant}.{endpoint_id}")
}

/// The subject a retry is held on until due: one per delivery, so a newer retry
/// replaces an older one, and one prefix per webhook, so all of a webhook's held
/// retries can be purged at once.
pub fn schedule(tenant: &str, endpoint_id: &str, delivery_id: &str) -> String {
    format!("{SCHEDULES}.{tenant}.{endpoint_id}.{delivery_id}")
}

/// Every retry held for one webhook: `schedules.<tenant>.<endpoint_id>.>`.
pub fn schedules_of(tenant: &str, endpoint_id: &str) -> String {
    format!("{SCHEDULES}.{tenant}.{endpoint_id}.>")
}

/// An attempt's record: `outcomes.<tenant>.<endpoint_id>.<succeeded|failed>`.
pub fn attempt(tenant: &str, endpoint_id: &str, succeeded: bool) -> String {
    let last = if succeeded { SUCCEEDED } else { FAILED };
    format!("{OUTCOMES}.{tenant}.{endpoint_id}.{last}")
}

/// A retry decision: `outcomes.<tenant>.<endpoint_id>.<scheduled|exhausted>`.
pub fn decision(tenant: &str, endpoint_id: &str, scheduled: bool) -> String {
    let last = if scheduled { SCHEDULED } else { EXHAUSTED };
    format!("{OUTCOMES}.{tenant}.{endpoint_id}.{last}")
}

/// A fan-out's record: `outcomes.<tenant>._fanout.pending`.
pub fn fan_out(tenant: &str) -> String {
    format!("{OUTCOMES}.{tenant}.{FAN_OUT_TAIL}")
}

/// Whether `subject` is a fan-out's.
pub fn is_fan_out(subject: &str) -> bool {
    subject
        .strip_suffix(FAN_OUT_TAIL)
        .is_some_and(|s| s.ends_with('.'))
}

/// A tenant's bundles of records: `outcomes.<tenant>._bundle.records`.
pub fn bundle(tenant: &str) -> String {
    format!("{OUTCOMES}.{tenant}.{BUNDLE_TAIL}")
}

/// Whether `subject` is a bundle's.
pub fn is_bundle(subject: &str) -> bool {
    subject
        .strip_suffix(BUNDLE_TAIL)
        .is_some_and(|s| s.ends_with('.'))
}

/// Where a message of `tenant` (none when its subject names no valid one) is
/// parked: `rejected.<tenant>`.
pub fn rejected(tenant: Option<&str>) -> String {
    format!("{REJECTED}.{}", tenant.unwrap_or(UNKNOWN_TENANT))
}

/// Core NATS subject a job's changes are announced on, for live streams:
/// `herald.jobs.<tenant>.<hash of the job id>`, since job ids may hold any
/// character.
pub fn job_changes(tenant: &str, job_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(job_id.as_bytes());
    format!("{JOB_CHANGES}.{tenant}.{}", hex::encode(&digest[..16]))
}

/// Core NATS subject the requests of one listening session go to:
/// `herald.listen.<tenant>.<session_id>`. The dispatcher sends each delivery there
/// as a request; ingest relays it to the session's CLI and publishes its answer to
/// the reply subject.
pub fn listen(tenant: &str, session_id: &str) -> String {
    format!("{LISTEN}.{tenant}.{session_id}")
}

/// The reply subjects of the service connecting as `name` (`herald-<service>`).
pub fn inbox_prefix(name: &str) -> String {
    format!(
        "{INBOX}.{}",
        name.strip_prefix(super::consumer::client::PREFIX)
            .unwrap_or(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_their_tokens_with_a_wildcard() {
        for (token, all) in [
            (INGEST, INGEST_ALL),
            (EVENTS, EVENTS_ALL),
            (DELIVERIES, DELIVERIES_ALL),
            (SCHEDULES, SCHEDULES_ALL),
            (PARKED, PARKED_ALL),
            (OUTCOMES, OUTCOMES_ALL),
            (REJECTED, REJECTED_ALL),
        ] {
            assert_eq!(all, format!("{token}.>"));
        }
        assert_eq!(OUTCOMES_FAILED, format!("{OUTCOMES}.*.*.{FAILED}"));
        assert_eq!(QUERY_ALL, "herald.query.>");
        assert!(STATUS_QUERY.starts_with("herald.query."));
        assert!(RETRYABLE_QUERY.starts_with("herald.query."));
    }

    #[test]
    fn subjects_keep_their_wire_form() {
        assert_eq!(event("acme", "job.done"), "events.acme.job.done");
        assert_eq!(split_ingest("ingest.acme.job.done"), ("acme", "job.done"));
        assert_eq!(split_ingest("ingest.acme"), ("acme", ""));
        assert_eq!(split_ingest("ingestx.acme.job"), ("", ""));
        assert_eq!(schedule("acme", "wh", "d"), "schedules.acme.wh.d");
        assert_eq!(attempt("acme", "wh", false), "outcomes.acme.wh.failed");
        assert_eq!(decision("acme", "wh", true), "outcomes.acme.wh.scheduled");
        assert_eq!(fan_out("acme"), "outcomes.acme._fanout.pending");
        assert!(is_fan_out(&fan_out("acme")));
        assert_eq!(bundle("acme"), "outcomes.acme._bundle.records");
        assert!(is_bundle(&bundle("acme")) && !is_bundle("outcomes.acme.wh.failed"));
        assert_eq!(rejected(None), "rejected._unknown");
        assert_eq!(inbox_prefix("herald-ingest"), "_HERALD_INBOX.ingest");
        assert!(job_changes("acme", "j 1").starts_with("herald.jobs.acme."));
        assert_eq!(listen("acme", "ls_1"), "herald.listen.acme.ls_1");
        assert_eq!(LISTEN_ALL, format!("{LISTEN}.>"));
    }
}
