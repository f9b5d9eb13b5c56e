//! Reads: the JSON views the API shows, and what can be retried by hand.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_proto::query::RetryableDelivery;
use herald_proto::{Event, EventType, rfc3339};
use serde_json::{Value, json};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, status};

/// Which deliveries of a webhook to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub tenant: String,
    pub endpoint_id: String,
    pub status: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: u32,
    pub cursor: Option<String>,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

impl DeliveryFilter {
    /// Binds `$1` to `$7` of the listing's conditions.
    fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        let flag = |v: Option<i64>| i64::from(v.is_some());
        query
            .bind(&self.tenant)
            .bind(&self.endpoint_id)
            .bind(self.status.as_deref().unwrap_or(""))
            .bind(flag(self.since_ms))
            .bind(self.since_ms.unwrap_or_default())
            .bind(flag(self.until_ms))
            .bind(self.until_ms.unwrap_or_default())
    }
}

/// One page of deliveries, newest first.
#[derive(Debug, Clone)]
pub struct Page {
    pub deliveries: Vec<Value>,
    pub total: u64,
    /// Present when more deliveries follow.
    pub next_cursor: Option<String>,
}

const SUMMARY: &str = "delivery_id, endpoint_id, event_id, event_type, status, status_code, \
     attempts, response_time_ms, next_attempt_at, created_at, updated_at";

fn optional_time(row: &AnyRow, column: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(row.try_get::<Option<i64>, _>(column)?.map(rfc3339))
}

fn summary(row: &AnyRow) -> Result<Value, sqlx::Error> {
    Ok(json!({
        "delivery_id": row.try_get::<String, _>("delivery_id")?,
        "webhook_id": row.try_get::<String, _>("endpoint_id")?,
        "event_id": row.try_get::<String, _>("event_id")?,
        "event_type": row.try_get::<String, _>("event_type")?,
        "status": row.try_get::<String, _>("status")?,
        "status_code": row.try_get::<Option<i64>, _>("status_code")?,
        "attempts": row.try_get::<i64, _>("attempts")?,
        "response_time_ms": row.try_get::<Option<i64>, _>("response_time_ms")?,
        "next_attempt_at": optional_time(row, "next_attempt_at")?,
        "created_at": rfc3339(row.try_get("created_at")?),
        "timestamp": rfc3339(row.try_get("updated_at")?),
    }))
}

/// `created_at` and `delivery_id` of the last row of a page, opaque to clients.
fn encode_cursor(created_at: i64, delivery_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{delivery_id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), StoreError> {
    let invalid = || StoreError::BadRequest("cursor is not one this API gave out".into());
    let text = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(text).map_err(|_| invalid())?;
    let (at, id) = text.split_once(':').ok_or_else(invalid)?;
    Ok((at.parse().map_err(|_| invalid())?, id.to_owned()))
}

impl Store {
    /// A page of a webhook's deliveries, newest first (by when the event was
    /// accepted, then delivery id): an order later deliveries never disturb.
    pub async fn list_deliveries(&self, filter: &DeliveryFilter) -> Result<Page, StoreError> {
        let (cursor_at, cursor_id) = match &filter.cursor {
            Some(cursor) => {
                let (at, id) = decode_cursor(cursor)?;
                (Some(at), id)
            }
            None => (None, String::new()),
        };
        let conditions = "tenant = $1 AND endpoint_id = $2 AND ($3 = '' OR status = $3) \
             AND ($4 = 0 OR created_at >= $5) AND ($6 = 0 OR created_at < $7)";
        let sql = format!(
            "SELECT {SUMMARY} FROM deliveries WHERE {conditions} \
             AND ($8 = 0 OR created_at < $9 OR (created_at = $9 AND delivery_id < $10)) \
             ORDER BY created_at DESC, delivery_id DESC LIMIT $11"
        );
        let rows = filter
            .bind(sqlx::query(&sql))
            .bind(i64::from(cursor_at.is_some()))
            .bind(cursor_at.unwrap_or_default())
            .bind(&cursor_id)
            .bind(i64::from(filter.limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let more = rows.len() > filter.limit as usize;
        let rows = &rows[..rows.len().min(filter.limit as usize)];
        let next_cursor = match rows.last() {
            Some(last) if more => Some(encode_cursor(
                last.try_get("created_at")?,
                &last.try_get::<String, _>("delivery_id")?,
            )),
            _ => None,
        };
        let deliveries = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
        let count = format!("SELECT COUNT(*) AS n FROM deliveries WHERE {conditions}");
        let total: i64 = filter
            .bind(sqlx::query(&count))
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        Ok(Page {
            deliveries,
            total: u64::try_from(total).unwrap_or_default(),
            next_cursor,
        })
    }

    /// One delivery with every attempt, oldest first.
    pub async fn delivery(
        &self,
        tenant: &str,
        delivery_id: &str,
    ) -> Result<Option<Value>, StoreError> {
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
        let mut view = summary(&row)?;
        view["attempt_count"] = view["attempts"].take();
        let attempts = sqlx::query(
            "SELECT attempt, trigger_kind, outcome, status_code, duration_ms, error, response_excerpt, \
             attempted_at FROM attempts WHERE tenant = $1 AND delivery_id = $2 \
             ORDER BY attempted_at, attempt",
        )
        .bind(tenant)
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|a| {
            Ok(json!({
                "attempt": a.try_get::<i64, _>("attempt")?,
                "trigger": a.try_get::<String, _>("trigger_kind")?,
                "status": a.try_get::<String, _>("outcome")?,
                "timestamp": rfc3339(a.try_get("attempted_at")?),
                "status_code": a.try_get::<Option<i64>, _>("status_code")?,
                "response_time_ms": a.try_get::<i64, _>("duration_ms")?,
                "error": a.try_get::<Option<String>, _>("error")?,
                "response_body": a.try_get::<String, _>("response_excerpt")?,
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        view["attempts"] = Value::Array(attempts);
        Ok(Some(view))
    }

    /// One event with its delivery to each webhook.
    pub async fn event(&self, tenant: &str, event_id: &str) -> Result<Option<Value>, StoreError> {
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
        let deliveries = sqlx::query(&format!(
            "SELECT {SUMMARY} FROM deliveries WHERE tenant = $1 AND event_id = $2 ORDER BY endpoint_id"
        ))
        .bind(tenant)
        .bind(event_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(summary)
        .collect::<Result<Vec<_>, _>>()?;
        let data: String = row.try_get("data")?;
        Ok(Some(json!({
            "event_id": row.try_get::<String, _>("event_id")?,
            "event_type": row.try_get::<String, _>("event_type")?,
            "job_id": row.try_get::<Option<String>, _>("job_id")?,
            "timestamp": rfc3339(row.try_get("occurred_at")?),
            "accepted_at": rfc3339(row.try_get("accepted_at")?),
            "data": serde_json::from_str::<Value>(&data).unwrap_or(Value::Null),
            "deliveries": deliveries,
        })))
    }

    /// A job's state and history, as `GET /v1/jobs/{job_id}` shows it.
    pub async fn job(&self, tenant: &str, job_id: &str) -> Result<Option<Value>, StoreError> {
        let Some(mut view) = self.job_state(tenant, job_id).await? else {
            return Ok(None);
        };
        let history = sqlx::query(
            "SELECT event_id, event_type, data, occurred_at FROM events WHERE tenant = $1 AND job_id = $2 \
             ORDER BY occurred_at, accepted_at, event_id",
        )
        .bind(tenant)
        .bind(job_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|e| {
            let data: String = e.try_get("data")?;
            Ok(json!({
                "event_id": e.try_get::<String, _>("event_id")?,
                "event_type": e.try_get::<String, _>("event_type")?,
                "timestamp": rfc3339(e.try_get("occurred_at")?),
                "data": serde_json::from_str::<Value>(&data).unwrap_or(Value::Null),
            }))
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        view["history"] = Value::Array(history);
        Ok(Some(view))
    }

    /// A job's state without its history: what live streams send on each change.
    pub async fn job_state(&self, tenant: &str, job_id: &str) -> Result<Option<Value>, StoreError> {
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
        let mut view = json!({
            "job_id": row.try_get::<String, _>("job_id")?,
            "job_type": row.try_get::<Option<String>, _>("job_type")?,
            "status": row.try_get::<String, _>("status")?,
            "progress": row.try_get::<Option<f64>, _>("progress")?,
            "final": row.try_get::<i64, _>("terminal")? != 0,
            "created_at": rfc3339(row.try_get("created_at")?),
            "updated_at": rfc3339(row.try_get("updated_at")?),
        });
        if let Some(result) = parse("result")? {
            view["result"] = result;
        }
        if let Some(error) = parse("error")? {
            view["error"] = error;
        }
        Ok(Some(view))
    }

    /// Attempts, success rate and response-time percentiles of a webhook since
    /// `since_ms`, counted and ranked by the database.
    pub async fn stats(
        &self,
        tenant: &str,
        endpoint_id: &str,
        since_ms: i64,
    ) -> Result<Value, StoreError> {
        const WHERE: &str = "WHERE tenant = $1 AND endpoint_id = $2 AND attempted_at >= $3";
        let counts = sqlx::query(&format!(
            "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN outcome = $4 THEN 1 ELSE 0 END), 0) AS ok \
             FROM attempts {WHERE}"
        ))
        .bind(tenant)
        .bind(endpoint_id)
        .bind(since_ms)
        .bind(status::SUCCESS)
        .fetch_one(&self.pool)
        .await?;
        let attempts = u64::try_from(counts.try_get::<i64, _>("n")?).unwrap_or_default();
        let successes = u64::try_from(counts.try_get::<i64, _>("ok")?).unwrap_or_default();
        let mut percentiles = [None, None];
        if let Some(last) = attempts.checked_sub(1) {
            for (slot, p) in percentiles.iter_mut().zip([0.50, 0.95]) {
                let rank = ((last as f64) * p).round() as i64;
                *slot = sqlx::query(&format!(
                    "SELECT duration_ms FROM attempts {WHERE} ORDER BY duration_ms LIMIT 1 OFFSET $4"
                ))
                .bind(tenant)
                .bind(endpoint_id)
                .bind(since_ms)
                .bind(rank)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get::<i64, _>("duration_ms"))
                .transpose()?;
            }
        }
        Ok(json!({
            "attempts": attempts,
            "successes": successes,
            "failures": attempts - successes,
            "success_rate": (attempts > 0).then(|| successes as f64 / attempts as f64),
            "p50_response_time_ms": percentiles[0],
            "p95_response_time_ms": percentiles[1],
        }))
    }

    /// Deliveries of a webhook that may be attempted again by hand, with their
    /// events: the one named, or every `failed` one last attempted since `since_ms`.
    pub async fn retryable(
        &self,
        tenant: &str,
        endpoint_id: &str,
        delivery_id: Option<&str>,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<RetryableDelivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT d.delivery_id, d.attempts, d.status, e.event_id, e.event_type, e.job_id, \
             e.data, e.occurred_at, e.accepted_at \
             FROM deliveries d JOIN events e ON e.tenant = d.tenant AND e.event_id = d.event_id \
             WHERE d.tenant = $1 AND d.endpoint_id = $2 \
             AND (($3 <> '' AND d.delivery_id = $3) OR ($3 = '' AND d.status = $4 AND d.updated_at >= $5)) \
             ORDER BY d.created_at, d.delivery_id LIMIT $6",
        )
        .bind(tenant)
        .bind(endpoint_id)
        .bind(delivery_id.unwrap_or(""))
        .bind(status::FAILED)
        .bind(since_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
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
                Ok(RetryableDelivery {
                    delivery_id: row.try_get("delivery_id")?,
                    attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or_default(),
                    status: row.try_get("status")?,
                    event: Some(event.to_wire()),
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let cursor = encode_cursor(1_700_000_000_000, "dlv_abc");
        assert_eq!(
            decode_cursor(&cursor).unwrap(),
            (1_700_000_000_000, "dlv_abc".to_owned())
        );
        assert!(decode_cursor("not a cursor!").is_err());
        assert!(decode_cursor(&URL_SAFE_NO_PAD.encode("x:y")).is_err());
    }
}
