//! Reads: the views the API shows (the types of `herald_model`), and what can be
//! retried by hand. Every
//! answer that can grow — a job's history, what `recover` re-sends, a delivery's
//! attempts, an event's deliveries — is paged or capped to a byte budget, so that it
//! always fits in one NATS message.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::TryStreamExt;
use herald_model::deliveries::{
    self as view, Attempt, DeliveryDetail, DeliveryPage, DeliverySummary, EventDetail, Job,
    JobEvent, JobHistoryPart, Stats,
};
use herald_model::{DeliveryId, EventId, JobId, WebhookId};
use herald_proto::query::RetryableDelivery;
use herald_proto::{Event, EventType, rfc3339};
use prost::Message;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::{self, DeliveryFilter, SUMMARY};
use super::{Store, StoreError};
use herald_proto::names::DeliveryStatus;

/// The first page of a listing counts the deliveries that match up to this many;
/// beyond, `total` says this many and `total_exact` is false.
pub const TOTAL_CAP: u32 = 10_000;

/// A job's history comes in parts when it does not fit in one answer: the first
/// with the job's state, the next ones the history alone.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum JobPage {
    First(Box<Job>),
    More(JobHistoryPart),
}

/// Which deliveries may be attempted again by hand: the one named, or every
/// `failed` one last attempted since `since_ms`, oldest first, at most `limit`,
/// after `cursor` (the `next_cursor` of the previous page).
#[derive(Debug, Clone, Copy, Default)]
pub struct Retryable<'a> {
    pub tenant: &'a str,
    pub endpoint_id: &'a str,
    pub delivery_id: Option<&'a str>,
    pub since_ms: i64,
    pub limit: u32,
    pub cursor: Option<&'a str>,
}

/// A page of what can be retried by hand.
#[derive(Debug, Clone, Default)]
pub struct RetryablePage {
    pub deliveries: Vec<RetryableDelivery>,
    /// Present when more deliveries follow.
    pub next_cursor: Option<String>,
}

fn optional_time(row: &AnyRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(rfc3339))
}

fn summary(row: &AnyRow) -> Result<DeliverySummary, sqlx::Error> {
    Ok(DeliverySummary {
        delivery_id: DeliveryId::from_record(row.try_get("delivery_id")?),
        webhook_id: WebhookId::from_record(row.try_get("endpoint_id")?),
        event_id: EventId::from_record(row.try_get("event_id")?),
        event_type: row.try_get("event_type")?,
        status: delivery_status(&row.try_get::<String, _>("status")?)?,
        status_code: row.try_get("status_code")?,
        attempts: row.try_get("attempts")?,
        response_time_ms: row.try_get("response_time_ms")?,
        next_attempt_at: optional_time(row, "next_attempt_at")?,
        created_at: rfc3339(row.try_get("created_at")?),
        timestamp: rfc3339(row.try_get("updated_at")?),
    })
}

fn delivery_status(word: &str) -> Result<view::DeliveryStatus, sqlx::Error> {
    DeliveryStatus::parse(word)
        .map(view::DeliveryStatus)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown delivery status `{word}`").into()))
}

/// Data stored as JSON text; text that is not JSON (never written so) reads as null.
fn stored_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Stored JSON as it is, bytes and all (`null` if it is not JSON).
fn stored_raw_json(text: String) -> Box<serde_json::value::RawValue> {
    serde_json::value::RawValue::from_string(text).unwrap_or_else(|_| {
        serde_json::value::RawValue::from_string("null".into()).expect("null is JSON")
    })
}

/// The bytes `value` takes in a JSON answer, with its separator.
fn json_len<T: Serialize>(value: &T) -> usize {
    serde_json::to_vec(value).map_or(0, |bytes| bytes.len()) + 1
}

/// Keeps the items of `items` that fit in `budget` bytes, at least one; says whether
/// it stopped before the end. Reads no more rows than it keeps, plus one.
async fn fill<S, T>(
    mut items: S,
    mut budget: usize,
    size: impl Fn(&T) -> usize,
) -> Result<(Vec<T>, bool), StoreError>
where
    S: futures::Stream<Item = Result<T, StoreError>> + Unpin,
{
    let mut kept = Vec::new();
    while let Some(item) = items.try_next().await? {
        let len = size(&item);
        if len > budget && !kept.is_empty() {
            return Ok((kept, true));
        }
        budget = budget.saturating_sub(len);
        kept.push(item);
    }
    Ok((kept, false))
}

/// Rows read for the first part of a page; later parts are sized by what is left.
const FIRST_CHUNK: usize = 16;
/// Most rows read at once.
const MAX_CHUNK: usize = 1000;

/// Collects items of at most `budget` bytes in all (at least one) and at most
/// `limit`, asking `fetch(after, rows)` for them in parts after the key of the last
/// one kept. Each part is the rows the budget left holds at the average size so far,
/// so a page reads few rows more than it keeps even when each is large (and the
/// database sends no more than that). Says whether more follow.
async fn gather<T, K, F, Fut>(
    budget: usize,
    limit: usize,
    size: impl Fn(&T) -> usize,
    mut fetch: F,
) -> Result<(Vec<(T, K)>, bool), StoreError>
where
    K: Clone,
    F: FnMut(Option<K>, usize) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<(T, K)>, StoreError>>,
{
    let mut kept: Vec<(T, K)> = Vec::new();
    let (mut left, mut used) = (budget, 0usize);
    let mut chunk = FIRST_CHUNK;
    loop {
        let want = chunk.min(limit.saturating_sub(kept.len()));
        if want == 0 {
            return Ok((kept, false));
        }
        let rows = fetch(kept.last().map(|(_, key)| key.clone()), want).await?;
        let got = rows.len();
        for (item, key) in rows {
            let len = size(&item);
            if len > left && !kept.is_empty() {
                return Ok((kept, true));
            }
            left = left.saturating_sub(len);
            used += len;
            kept.push((item, key));
        }
        if got < want {
            return Ok((kept, false));
        }
        let average = (used / kept.len().max(1)).max(1);
        chunk = (left / average + 1).clamp(1, MAX_CHUNK);
    }
}

/// A cursor: the sort key of the last row a page held, opaque to clients.
fn encode_cursor(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join(":"))
}

/// The `n` parts of `cursor`: `n - 1` numbers, then the rest (ids may hold `:`).
fn decode_cursor(cursor: &str, n: usize) -> Result<(Vec<i64>, String), StoreError> {
    let invalid = || StoreError::Invalid("cursor is not one this API gave out".into());
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(text).map_err(|_| invalid())?;
    let parts: Vec<&str> = text.splitn(n, ':').collect();
    if parts.len() != n {
        return Err(invalid());
    }
    let numbers = parts[..n - 1]
        .iter()
        .map(|p| p.parse().map_err(|_| invalid()))
        .collect::<Result<Vec<i64>, _>>()?;
    Ok((numbers, parts[n - 1].to_owned()))
}

fn delivery_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    let (numbers, id) = decode_cursor(cursor, 2)?;
    Ok((numbers[0], id))
}

impl Store {
    /// A page of a webhook's deliveries, newest first (by when the event was
    /// accepted, then delivery id): an order later deliveries never disturb. Only the
    /// first page counts, and only up to [`TOTAL_CAP`].
    pub async fn list_deliveries(
        &self,
        filter: &DeliveryFilter,
    ) -> Result<DeliveryPage, StoreError> {
        let after = filter.cursor.as_deref().map(delivery_cursor).transpose()?;
        let rows = filter
            .page(after.as_ref())
            .bind()
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() > filter.limit as usize;
        let rows = &rows[..rows.len().min(filter.limit as usize)];
        let next_cursor = match rows.last() {
            Some(last) if more => Some(encode_cursor(&[
                &last.try_get::<i64, _>("created_at")?.to_string(),
                &last.try_get::<String, _>("delivery_id")?,
            ])),
            _ => None,
        };
        let deliveries = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
        let (total, total_exact) = if after.is_none() {
            let counted: i64 = filter
                .count(TOTAL_CAP)
                .bind()
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
            let counted = u64::try_from(counted).unwrap_or_default();
            let cap = u64::from(TOTAL_CAP);
            (Some(counted.min(cap)), counted <= cap)
        } else {
            (None, false)
        };
        Ok(DeliveryPage {
            deliveries,
            total,
            total_exact,
            limit: filter.limit,
            next_cursor,
        })
    }

    /// One delivery with its attempts, oldest first, numbered in the order they
    /// were recorded: every attempt, or the latest that fit in `budget` bytes.
    pub async fn delivery(
        &self,
        tenant: &str,
        delivery_id: &str,
        budget: usize,
    ) -> Result<Option<DeliveryDetail>, StoreError> {
        let Some(row) = sqlx::query(&format!(
            "SELECT {SUMMARY} FROM deliveries WHERE tenant = $1 AND delivery_id = $2"
        ))
        .bind(tenant)
        .bind(delivery_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let mut view = DeliveryDetail::new(summary(&row)?, Vec::new());
        let rows = sqlx::query(sql::DELIVERY_ATTEMPTS)
            .bind(tenant)
            .bind(delivery_id)
            .fetch(&self.pool)
            .map_err(StoreError::from)
            .and_then(|a| async move {
                Ok(Attempt {
                    attempt: a.try_get("number")?,
                    trigger: a.try_get("trigger_kind")?,
                    status: a.try_get("outcome")?,
                    timestamp: rfc3339(a.try_get("attempted_at")?),
                    status_code: a.try_get("status_code")?,
                    response_time_ms: a.try_get("duration_ms")?,
                    error: a.try_get("error")?,
                    response_body: a.try_get("response_excerpt")?,
                })
            });
        let budget = budget.saturating_sub(json_len(&view));
        let (mut attempts, _) = fill(Box::pin(rows), budget, json_len).await?;
        attempts.reverse();
        view.attempts = attempts;
        Ok(Some(view))
    }

    /// One event with its delivery to each webhook: every one, or as many as fit in
    /// `budget` bytes (then `deliveries_truncated` is true).
    pub async fn event(
        &self,
        tenant: &str,
        event_id: &str,
        budget: usize,
    ) -> Result<Option<EventDetail>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT event_id, event_type, job_id, data, occurred_at, accepted_at FROM events \
             WHERE tenant = $1 AND event_id = $2",
        )
        .bind(tenant)
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let mut view = EventDetail {
            event_id: EventId::from_record(row.try_get("event_id")?),
            event_type: row.try_get("event_type")?,
            job_id: row
                .try_get::<Option<String>, _>("job_id")?
                .map(JobId::from_record),
            timestamp: rfc3339(row.try_get("occurred_at")?),
            accepted_at: rfc3339(row.try_get("accepted_at")?),
            data: stored_raw_json(row.try_get::<String, _>("data")?),
            deliveries: Vec::new(),
            deliveries_truncated: false,
        };
        let budget = budget.saturating_sub(json_len(&view));
        let statement = sql::event_deliveries();
        let rows = sqlx::query(&statement)
            .bind(tenant)
            .bind(event_id)
            .fetch(&self.pool)
            .map_err(StoreError::from)
            .and_then(|row| async move { Ok(summary(&row)?) });
        let (deliveries, truncated) = fill(Box::pin(rows), budget, json_len).await?;
        view.deliveries = deliveries;
        view.deliveries_truncated = truncated;
        Ok(Some(view))
    }

    /// A job's state and history, as `GET /v1/jobs/{job_id}` shows it, in pages of
    /// at most `budget` bytes: the first (no `cursor`) with the state, the next ones
    /// the history alone. Returns the page and the next page's cursor.
    pub async fn job(
        &self,
        tenant: &str,
        job_id: &str,
        cursor: Option<&str>,
        budget: usize,
    ) -> Result<Option<(JobPage, Option<String>)>, StoreError> {
        let (job, after) = match cursor {
            None => match self.job_state(tenant, job_id).await? {
                Some(job) => (Some(job), (i64::MIN, i64::MIN, String::new())),
                None => return Ok(None),
            },
            Some(cursor) => {
                let (numbers, id) = decode_cursor(cursor, 3)?;
                (None, (numbers[0], numbers[1], id))
            }
        };
        let budget = budget.saturating_sub(job.as_ref().map_or(2, json_len));
        let fetch = |from: Option<(i64, i64, String)>, rows: usize| {
            let (occurred, accepted, id) = from.unwrap_or_else(|| after.clone());
            async move {
                sqlx::query(sql::JOB_HISTORY)
                    .bind(tenant)
                    .bind(job_id)
                    .bind(occurred)
                    .bind(accepted)
                    .bind(id)
                    .bind(i64::try_from(rows).unwrap_or(i64::MAX))
                    .fetch_all(&self.pool)
                    .await?
                    .iter()
                    .map(history_item)
                    .collect::<Result<Vec<_>, _>>()
            }
        };
        let (history, more) = gather(budget, usize::MAX, json_len, fetch).await?;
        let next_cursor = match history.last() {
            Some((_, (occurred, accepted, id))) if more => Some(encode_cursor(&[
                &occurred.to_string(),
                &accepted.to_string(),
                id,
            ])),
            _ => None,
        };
        let history: Vec<JobEvent> = history.into_iter().map(|(item, _)| item).collect();
        let page = match job {
            Some(job) => JobPage::First(Box::new(Job {
                history: Some(history),
                ..job
            })),
            None => JobPage::More(JobHistoryPart { history }),
        };
        Ok(Some((page, next_cursor)))
    }

    /// A job's state without its history: what live streams send on each change.
    pub async fn job_state(&self, tenant: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT job_id, job_type, status, terminal, progress, result, error, created_at, updated_at \
             FROM jobs WHERE tenant = $1 AND job_id = $2",
        )
        .bind(tenant)
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let parse = |column: &str| -> Result<Option<Value>, sqlx::Error> {
            Ok(row
                .try_get::<Option<String>, _>(column)?
                .map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text))))
        };
        Ok(Some(Job {
            job_id: JobId::from_record(row.try_get("job_id")?),
            job_type: row.try_get("job_type")?,
            status: row.try_get("status")?,
            progress: row.try_get("progress")?,
            is_final: row.try_get::<i64, _>("terminal")? != 0,
            created_at: rfc3339(row.try_get("created_at")?),
            updated_at: rfc3339(row.try_get("updated_at")?),
            result: parse("result")?,
            error: parse("error")?,
            history: None,
        }))
    }

    /// Attempts, success rate and response-time percentiles of a webhook from
    /// `since_ms` until `until_ms` (now when `None`), counted and ranked by the
    /// database.
    pub async fn stats(
        &self,
        tenant: &str,
        endpoint_id: &str,
        since_ms: i64,
        until_ms: Option<i64>,
    ) -> Result<Stats, StoreError> {
        const WHERE: &str = "WHERE tenant = $1 AND endpoint_id = $2 AND attempted_at >= $3 \
             AND attempted_at < $4";
        let until_ms = until_ms.unwrap_or(i64::MAX);
        let counts = sqlx::query(&format!(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN outcome = $5 THEN 1 ELSE 0 END), 0) AS ok \
             FROM attempts {WHERE}"
        ))
        .bind(tenant)
        .bind(endpoint_id)
        .bind(since_ms)
        .bind(until_ms)
        .bind(DeliveryStatus::Success.as_str())
        .fetch_one(&self.pool)
        .await?;
        let attempts = u64::try_from(counts.try_get::<i64, _>("n")?).unwrap_or_default();
        let successes = u64::try_from(counts.try_get::<i64, _>("ok")?).unwrap_or_default();
        let mut percentiles = [None, None];
        if let Some(last) = attempts.checked_sub(1) {
            for (slot, p) in percentiles.iter_mut().zip([0.50, 0.95]) {
                let rank = ((last as f64) * p).round() as i64;
                *slot = sqlx::query(&format!(
                    "SELECT duration_ms FROM attempts {WHERE} ORDER BY duration_ms LIMIT 1 OFFSET $5"
                ))
                .bind(tenant)
                .bind(endpoint_id)
                .bind(since_ms)
                .bind(until_ms)
                .bind(rank)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get::<i64, _>("duration_ms"))
                .transpose()?;
            }
        }
        Ok(Stats {
            attempts,
            successes,
            failures: attempts - successes,
            success_rate: (attempts > 0).then(|| successes as f64 / attempts as f64),
            p50_response_time_ms: percentiles[0],
            p95_response_time_ms: percentiles[1],
        })
    }

    /// Deliveries of a webhook that may be attempted again by hand, with their
    /// events (see [`Retryable`]), in pages of at most `budget` bytes (at least one
    /// delivery each).
    pub async fn retryable(
        &self,
        wanted: &Retryable<'_>,
        budget: usize,
    ) -> Result<RetryablePage, StoreError> {
        let Retryable {
            tenant,
            endpoint_id,
            delivery_id,
            since_ms,
            limit,
            cursor,
        } = *wanted;
        let size = |delivery: &RetryableDelivery| {
            let len = delivery.encoded_len();
            len + prost::length_delimiter_len(len) + 1
        };
        let to_delivery = |row: &AnyRow| retryable_delivery(tenant, row);
        let (page, more) = match delivery_id {
            Some(delivery_id) => {
                let found = sqlx::query(&sql::retryable_one())
                    .bind(tenant)
                    .bind(endpoint_id)
                    .bind(delivery_id)
                    .fetch_optional(&self.pool)
                    .await?;
                (
                    found.iter().map(to_delivery).collect::<Result<_, _>>()?,
                    false,
                )
            }
            None => {
                let start = cursor.map(delivery_cursor).transpose()?;
                let since = sql::retryable_since();
                let fetch = |from: Option<(i64, String)>, rows: usize| {
                    let (at, id) = from
                        .or_else(|| start.clone())
                        .unwrap_or((i64::MIN, String::new()));
                    let since = &since;
                    async move {
                        sqlx::query(since)
                            .bind(tenant)
                            .bind(endpoint_id)
                            .bind(DeliveryStatus::Failed.as_str())
                            .bind(since_ms)
                            .bind(at)
                            .bind(id)
                            .bind(i64::try_from(rows).unwrap_or(i64::MAX))
                            .fetch_all(&self.pool)
                            .await?
                            .iter()
                            .map(to_delivery)
                            .collect::<Result<Vec<_>, _>>()
                    }
                };
                gather(budget, limit as usize, size, fetch).await?
            }
        };
        let next_cursor = match page.last() {
            Some((last, (created_at, _))) if more => {
                Some(encode_cursor(&[&created_at.to_string(), &last.delivery_id]))
            }
            _ => None,
        };
        Ok(RetryablePage {
            deliveries: page.into_iter().map(|(delivery, _)| delivery).collect(),
            next_cursor,
        })
    }
}

/// One entry of a job's history, and its place in the history's order.
fn history_item(row: &AnyRow) -> Result<(JobEvent, (i64, i64, String)), StoreError> {
    let event_id: String = row.try_get("event_id")?;
    let occurred_at: i64 = row.try_get("occurred_at")?;
    let item = JobEvent {
        event_id: EventId::from_record(event_id.clone()),
        event_type: row.try_get("event_type")?,
        timestamp: rfc3339(occurred_at),
        data: stored_json(&row.try_get::<String, _>("data")?),
    };
    Ok((item, (occurred_at, row.try_get("accepted_at")?, event_id)))
}

/// A retryable delivery and its place in the order, `(created_at, delivery_id)`.
fn retryable_delivery(
    tenant: &str,
    row: &AnyRow,
) -> Result<(RetryableDelivery, (i64, String)), StoreError> {
    let event = Event {
        event_id: row.try_get("event_id")?,
        tenant: tenant.to_owned(),
        event_type: EventType::parse(&row.try_get::<String, _>("event_type")?)
            .map_err(|e| sqlx::Error::Decode(e.into()))?,
        data: bytes::Bytes::from(row.try_get::<String, _>("data")?),
        job_id: row.try_get("job_id")?,
        timestamp_ms: row.try_get("occurred_at")?,
        accepted_at_ms: row.try_get("accepted_at")?,
        callback: None,
    };
    let delivery = RetryableDelivery {
        delivery_id: row.try_get("delivery_id")?,
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or_default(),
        status: row.try_get("status")?,
        event: Some(event.to_wire()),
    };
    let key = (row.try_get("created_at")?, delivery.delivery_id.clone());
    Ok((delivery, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let cursor = encode_cursor(&["1700000000000", "dlv_abc"]);
        assert_eq!(
            delivery_cursor(&cursor).unwrap(),
            (1_700_000_000_000, "dlv_abc".to_owned())
        );
        let cursor = encode_cursor(&["-5", "7", "evt:with:colons"]);
        assert_eq!(
            decode_cursor(&cursor, 3).unwrap(),
            (vec![-5, 7], "evt:with:colons".to_owned())
        );
        assert!(delivery_cursor("not a cursor!").is_err());
        assert!(delivery_cursor(&URL_SAFE_NO_PAD.encode("x:y")).is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("1:y"), 3).is_err());
    }

    #[tokio::test]
    async fn a_page_holds_what_fits_and_at_least_one_item() {
        let items =
            |sizes: Vec<usize>| futures::stream::iter(sizes.into_iter().map(Ok::<_, StoreError>));
        let (kept, more) = fill(items(vec![4, 4, 4]), 9, |n| *n).await.unwrap();
        assert_eq!((kept, more), (vec![4, 4], true));
        let (kept, more) = fill(items(vec![20, 1]), 9, |n| *n).await.unwrap();
        assert_eq!((kept, more), (vec![20], true));
        let (kept, more) = fill(items(vec![3, 3]), 9, |n| *n).await.unwrap();
        assert_eq!((kept, more), (vec![3, 3], false));
    }

    /// `gather` over rows `0..n` of `size` bytes each, with the parts it asked for.
    async fn gather_rows(
        n: usize,
        size: usize,
        budget: usize,
        limit: usize,
    ) -> (usize, bool, Vec<usize>) {
        let asked = std::cell::RefCell::new(Vec::new());
        let fetch = |after: Option<usize>, rows: usize| {
            asked.borrow_mut().push(rows);
            let from = after.map_or(0, |a| a + 1);
            let part: Vec<_> = (from..n.min(from + rows)).map(|i| (size, i)).collect();
            async move { Ok(part) }
        };
        let (kept, more) = gather(budget, limit, |s: &usize| *s, fetch).await.unwrap();
        let keys: Vec<_> = kept.iter().map(|(_, k)| *k).collect();
        assert_eq!(
            keys,
            (0..kept.len()).collect::<Vec<_>>(),
            "in order, each once"
        );
        (kept.len(), more, asked.into_inner())
    }

    #[tokio::test]
    async fn pages_read_about_as_many_rows_as_they_keep() {
        // Large rows: a few per page, and the database is asked for few more.
        let (kept, more, asked) = gather_rows(100, 1000, 7_500, usize::MAX).await;
        assert_eq!((kept, more), (7, true));
        assert!(asked.iter().sum::<usize>() <= 16, "{asked:?}");
        // Small rows: the parts grow to what the budget holds.
        let (kept, more, asked) = gather_rows(10_000, 10, 50_000, usize::MAX).await;
        assert_eq!((kept, more), (5_000, true));
        assert!(asked.len() <= 8, "{asked:?}");
        // The limit and the end of the rows end a page without a next one.
        assert_eq!(gather_rows(100, 10, 50_000, 30).await.0, 30);
        assert!(!gather_rows(100, 10, 50_000, 30).await.1);
        assert_eq!(gather_rows(20, 10, 50_000, 1000).await.0, 20);
        assert!(!gather_rows(20, 10, 50_000, 1000).await.1);
        // One row larger than the budget still makes a page.
        assert_eq!(gather_rows(3, 100, 10, 1000).await.0, 1);
    }
}
