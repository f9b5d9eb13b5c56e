//! The statements of the paths that must stay fast at millions of rows, in one
//! place, public so that a test can `EXPLAIN` exactly what runs. Each is written so
//! an index answers it: conditions that are absent are left out rather than
//! switched off with a flag, and pages continue with row comparisons on the index's
//! own order.

/// A value bound to a statement's placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Text(String),
    Int(i64),
}

/// A statement and its parameters, `$1` onwards.
#[derive(Debug, Clone)]
pub struct Statement {
    pub sql: String,
    pub params: Vec<Param>,
}

impl Statement {
    pub(super) fn bind(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        self.params
            .iter()
            .fold(sqlx::query(&self.sql), |query, param| match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::Int(int) => query.bind(*int),
            })
    }
}

/// The columns of a delivery in the log.
pub const SUMMARY: &str = "delivery_id, endpoint_id, event_id, event_type, status, status_code, \
     attempts, response_time_ms, next_attempt_at, created_at, updated_at";

/// Which deliveries of a webhook to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub tenant: String,
    pub endpoint_id: String,
    pub status: Option<String>,
    pub event_type: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: u32,
    pub cursor: Option<String>,
}

impl DeliveryFilter {
    /// `WHERE ...` of the listing, without the cursor: index `deliveries_by_endpoint`
    /// or, with a status, `deliveries_by_endpoint_status`.
    fn conditions(&self) -> (String, Vec<Param>) {
        let mut sql = "tenant = $1 AND endpoint_id = $2".to_owned();
        let mut params = vec![
            Param::Text(self.tenant.clone()),
            Param::Text(self.endpoint_id.clone()),
        ];
        let mut add = |condition: &str, param: Param| {
            params.push(param);
            sql.push_str(&format!(" AND {condition} ${}", params.len()));
        };
        if let Some(status) = &self.status {
            add("status =", Param::Text(status.clone()));
        }
        if let Some(event_type) = &self.event_type {
            add("event_type =", Param::Text(event_type.clone()));
        }
        if let Some(since) = self.since_ms {
            add("created_at >=", Param::Int(since));
        }
        if let Some(until) = self.until_ms {
            add("created_at <", Param::Int(until));
        }
        (sql, params)
    }

    /// One page, newest first, after `after` (the `(created_at, delivery_id)` of the
    /// previous page's last row); one row more than the limit, to tell whether more
    /// follow.
    pub fn page(&self, after: Option<&(i64, String)>) -> Statement {
        let (mut sql, mut params) = self.conditions();
        if let Some((at, id)) = after {
            params.push(Param::Int(*at));
            params.push(Param::Text(id.clone()));
            let n = params.len();
            sql.push_str(&format!(
                " AND (created_at, delivery_id) < (${}, ${n})",
                n - 1
            ));
        }
        params.push(Param::Int(i64::from(self.limit) + 1));
        Statement {
            sql: format!(
                "SELECT {SUMMARY} FROM deliveries WHERE {sql} \
                 ORDER BY created_at DESC, delivery_id DESC LIMIT ${}",
                params.len()
            ),
            params,
        }
    }

    /// How many deliveries match, counted up to `cap + 1` entries of the index so a
    /// count never reads more than that.
    pub fn count(&self, cap: u32) -> Statement {
        let (sql, mut params) = self.conditions();
        params.push(Param::Int(i64::from(cap) + 1));
        Statement {
            sql: format!(
                "SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM deliveries WHERE {sql} LIMIT ${}) matched",
                params.len()
            ),
            params,
        }
    }
}

/// An event's deliveries, one per webhook (`deliveries_by_event`).
pub fn event_deliveries() -> String {
    format!(
        "SELECT {SUMMARY} FROM deliveries WHERE tenant = $1 AND event_id = $2 ORDER BY endpoint_id"
    )
}

/// Up to `$6` events of a job's history in its order, after `($3, $4, $5)`
/// (`events_by_job`).
pub const JOB_HISTORY: &str = "SELECT event_id, event_type, data, occurred_at, accepted_at FROM events \
     WHERE tenant = $1 AND job_id = $2 AND (occurred_at, accepted_at, event_id) > ($3, $4, $5) \
     ORDER BY occurred_at, accepted_at, event_id LIMIT $6";

/// A delivery's latest attempts (at most 1 000, the most its view lists), newest first,
/// numbered in the order they were recorded (primary key, then a sort of that
/// delivery's rows).
pub const DELIVERY_ATTEMPTS: &str = "SELECT number, trigger_kind, outcome, status_code, duration_ms, \
     error, response_excerpt, attempted_at FROM (SELECT ROW_NUMBER() OVER \
     (ORDER BY sequence, attempted_at, record_id) AS number, trigger_kind, outcome, status_code, \
     duration_ms, error, response_excerpt, attempted_at FROM attempts \
     WHERE tenant = $1 AND delivery_id = $2) numbered ORDER BY number DESC LIMIT 1000";

/// What a retryable delivery brings: its state and its event.
const RETRYABLE_COLUMNS: &str = "SELECT d.delivery_id, d.attempts, d.status, d.created_at, \
     e.event_id, e.event_type, e.job_id, e.data, e.occurred_at, e.accepted_at \
     FROM deliveries d JOIN events e ON e.tenant = d.tenant AND e.event_id = d.event_id";

/// One delivery of a webhook, by id, with its event.
pub fn retryable_one() -> String {
    format!("{RETRYABLE_COLUMNS} WHERE d.tenant = $1 AND d.endpoint_id = $2 AND d.delivery_id = $3")
}

/// A webhook's deliveries of status `$3` last touched since `$4`, oldest first,
/// after `($5, $6)`, at most `$7` (`deliveries_by_endpoint_status`).
pub fn retryable_since() -> String {
    format!(
        "{RETRYABLE_COLUMNS} WHERE d.tenant = $1 AND d.endpoint_id = $2 AND d.status = $3 \
         AND d.updated_at >= $4 AND (d.created_at, d.delivery_id) > ($5, $6) \
         ORDER BY d.created_at, d.delivery_id LIMIT $7"
    )
}

/// Retention: each statement deletes at most `$2` rows last touched before `$1`,
/// found through an index on that time.
pub const PRUNE: [&str; 4] = [
    "DELETE FROM attempts WHERE (tenant, delivery_id, record_id) IN \
     (SELECT tenant, delivery_id, record_id FROM attempts WHERE attempted_at < $1 LIMIT $2)",
    "DELETE FROM deliveries WHERE (tenant, delivery_id) IN \
     (SELECT tenant, delivery_id FROM deliveries WHERE updated_at < $1 LIMIT $2)",
    "DELETE FROM events WHERE (tenant, event_id) IN \
     (SELECT tenant, event_id FROM events WHERE accepted_at < $1 LIMIT $2)",
    "DELETE FROM jobs WHERE (tenant, job_id) IN \
     (SELECT tenant, job_id FROM jobs WHERE updated_at < $1 LIMIT $2)",
];
