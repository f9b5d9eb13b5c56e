//! Durable consumers, core NATS queue groups, and the names services connect
//! with (which also name their reply subjects, see
//! [`subject::inbox_prefix`](super::subject::inbox_prefix)).

/// Ingest's consumer of `ingest.>`.
pub const INGEST: &str = "ingest";
/// The dispatcher's fan-out consumer of `events.>`.
pub const DISPATCHER_FANOUT: &str = "dispatcher-fanout";
/// The status-tracker's consumer of `outcomes.>`.
pub const STATUS_TRACKER: &str = "status-tracker";
/// The status-tracker's consumer of `events.>`.
pub const STATUS_TRACKER_EVENTS: &str = "status-tracker-events";
/// The retry-scheduler's consumer of failed attempts.
pub const RETRY_SCHEDULER: &str = "retry-scheduler";
/// The single delivery consumer of releases before partitions; removed when found.
pub const LEGACY_DISPATCHER: &str = "dispatcher";

/// The consumer of one delivery partition's tasks, `deliveries.<partition>.>`.
pub fn partition(partition: u32) -> String {
    format!("dispatcher-p{partition:02}")
}

/// Queue group of the dispatchers answering test deliveries.
pub const TEST_DELIVERY_QUEUE: &str = "dispatcher";
/// Queue group of the status-trackers answering queries.
pub const QUERY_QUEUE: &str = "status-tracker";

/// Queue group of the streams of one listening session: of several CLI
/// connections to one session, one gets each request.
pub const LISTEN_QUEUE: &str = "listen-sessions";

/// The client name each service connects to NATS with.
pub mod client {
    pub const INGEST: &str = "herald-ingest";
    pub const DISPATCHER: &str = "herald-dispatcher";
    pub const RETRY_SCHEDULER: &str = "herald-retry-scheduler";
    pub const STATUS_TRACKER: &str = "herald-status-tracker";
    /// What every client name starts with.
    pub const PREFIX: &str = "herald-";
}
