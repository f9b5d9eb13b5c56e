//! Writes one record at a time: retry decisions, and the events that move jobs or
//! deliveries. Each is an idempotent upsert that only ever moves a record forward.

use std::sync::LazyLock;

use herald_proto::{Event, RetryDecision, Trigger};
use sqlx::{AnyConnection, Row};

use super::StoreError;
use crate::jobs::JobUpdate;
use herald_proto::names::DeliveryStatus;

/// Applies the retry-scheduler's decision about one failed automatic attempt, only
/// while that attempt is the delivery's latest automatic one and nothing has ended
/// the delivery since (a success, a refusal, an earlier decision that it is out of
/// attempts). Returns `false` when the attempt is not recorded yet (the caller asks
/// again later); a decision about a superseded attempt is dropped.
pub async fn decision(
    conn: &mut AnyConnection,
    decision: &RetryDecision,
) -> Result<bool, StoreError> {
    let sequence = match decision.attempt_sequence {
        0 => match legacy_sequence(conn, decision).await? {
            Some(sequence) => sequence,
            None => return Ok(false),
        },
        sequence => i64::try_from(sequence).unwrap_or(i64::MAX),
    };
    let (status, next) = match decision.next_attempt_at_ms {
        Some(at) => (DeliveryStatus::Retrying.as_str(), Some(at)),
        None => (DeliveryStatus::Failed.as_str(), None),
    };
    let updated = sqlx::query(
        "UPDATE deliveries SET status = $1, next_attempt_at = $2 \
         WHERE tenant = $3 AND delivery_id = $4 AND auto_sequence = $5 AND status IN ($6, $7)",
    )
    .bind(status)
    .bind(next)
    .bind(&decision.tenant)
    .bind(&decision.delivery_id)
    .bind(sequence)
    .bind(DeliveryStatus::Retrying.as_str())
    .bind(DeliveryStatus::Pending.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated > 0 {
        return Ok(true);
    }
    let latest: Option<i64> =
        sqlx::query("SELECT auto_sequence FROM deliveries WHERE tenant = $1 AND delivery_id = $2")
            .bind(&decision.tenant)
            .bind(&decision.delivery_id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|row| row.try_get("auto_sequence"))
            .transpose()?;
    Ok(latest.is_some_and(|latest| latest >= sequence))
}

/// The sequence of the automatic attempt a decision without one (from a scheduler
/// that predates it) is about: the latest recorded with its number.
async fn legacy_sequence(
    conn: &mut AnyConnection,
    decision: &RetryDecision,
) -> Result<Option<i64>, StoreError> {
    let row = sqlx::query(
        "SELECT sequence FROM attempts WHERE tenant = $1 AND delivery_id = $2 AND attempt = $3 \
         AND trigger_kind = $4 ORDER BY sequence DESC LIMIT 1",
    )
    .bind(&decision.tenant)
    .bind(&decision.delivery_id)
    .bind(i64::from(decision.attempt))
    .bind(Trigger::Auto.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|row| row.try_get("sequence")).transpose()?)
}

/// Records an accepted event, moves its job, and reacts to Herald's own events.
pub async fn event(conn: &mut AnyConnection, event: &Event) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO events (tenant, event_id, event_type, job_id, data, occurred_at, accepted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&event.tenant)
    .bind(&event.event_id)
    .bind(event.event_type.as_str())
    .bind(event.job_id.as_deref())
    .bind(super::rows::data(event))
    .bind(event.timestamp_ms)
    .bind(event.accepted_at_ms)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    if let Some(update) = JobUpdate::from_event(event) {
        job(conn, &event.tenant, &update, event.accepted_at_ms).await?;
    }
    if event.event_type.as_str() == herald_proto::names::event_type::WEBHOOK_DISABLED {
        let data: serde_json::Value = serde_json::from_slice(&event.data).unwrap_or_default();
        if let Some(webhook_id) = data["webhook_id"].as_str() {
            fail_retrying(conn, &event.tenant, webhook_id).await?;
        }
    }
    Ok(())
}

/// The upsert of [`job`], `$1`-`$12` as it binds them, built once.
static JOB_UPSERT: LazyLock<String> = LazyLock::new(|| {
    let wins = "(excluded.terminal > jobs.terminal OR \
                (excluded.terminal = jobs.terminal AND excluded.status_at >= jobs.status_at))";
    let progress_wins = "(excluded.progress IS NOT NULL AND \
                         (jobs.progress_at IS NULL OR excluded.progress_at >= jobs.progress_at))";
    format!(
        "INSERT INTO jobs (tenant, job_id, job_type, status, status_at, terminal, progress, progress_at, \
         result, error, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (tenant, job_id) DO UPDATE SET \
           job_type = COALESCE(jobs.job_type, excluded.job_type), \
           status = CASE WHEN {wins} THEN excluded.status ELSE jobs.status END, \
           result = CASE WHEN {wins} THEN COALESCE(excluded.result, jobs.result) ELSE jobs.result END, \
           error = CASE WHEN {wins} THEN COALESCE(excluded.error, jobs.error) ELSE jobs.error END, \
           terminal = CASE WHEN {wins} THEN excluded.terminal ELSE jobs.terminal END, \
           status_at = CASE WHEN {wins} THEN excluded.status_at ELSE jobs.status_at END, \
           progress = CASE WHEN {progress_wins} THEN excluded.progress ELSE jobs.progress END, \
           progress_at = CASE WHEN {progress_wins} THEN excluded.progress_at ELSE jobs.progress_at END, \
           created_at = CASE WHEN excluded.created_at < jobs.created_at THEN excluded.created_at ELSE jobs.created_at END, \
           updated_at = CASE WHEN excluded.updated_at > jobs.updated_at THEN excluded.updated_at ELSE jobs.updated_at END"
    )
});

/// Moves a job by one event. A final status beats any non-final one; among equals
/// the later event wins; progress follows the latest progress report.
async fn job(
    conn: &mut AnyConnection,
    tenant: &str,
    update: &JobUpdate,
    now: i64,
) -> Result<(), StoreError> {
    // A progress-only event creates a job as `processing` but never moves a status.
    let (status, status_at) = match &update.status {
        Some(status) => (status.as_str(), update.at),
        None => ("processing", i64::MIN),
    };
    sqlx::query(&JOB_UPSERT)
        .bind(tenant)
        .bind(&update.job_id)
        .bind(update.job_type.as_deref())
        .bind(status)
        .bind(status_at)
        .bind(i64::from(update.terminal))
        .bind(update.progress)
        .bind(update.progress.map(|_| update.at))
        .bind(update.result.as_deref())
        .bind(update.error.as_deref())
        .bind(update.at)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A disabled webhook's retries were dropped: its `retrying` deliveries have no
/// attempt left.
pub async fn fail_retrying(
    conn: &mut AnyConnection,
    tenant: &str,
    endpoint_id: &str,
) -> Result<u64, StoreError> {
    let updated = sqlx::query(
        "UPDATE deliveries SET status = $1, next_attempt_at = NULL \
         WHERE tenant = $2 AND endpoint_id = $3 AND status = $4",
    )
    .bind(DeliveryStatus::Failed.as_str())
    .bind(tenant)
    .bind(endpoint_id)
    .bind(DeliveryStatus::Retrying.as_str())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(updated)
}
