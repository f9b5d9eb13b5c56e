//! Writes, each an idempotent upsert that only ever moves a record forward.

use std::sync::LazyLock;

use herald_proto::{AttemptOutcome, DeliveryAttempt, Event, FanOut, RetryDecision, Trigger};
use sqlx::{AnyConnection, Row};

use super::{StoreError, status};
use crate::jobs::JobUpdate;

/// Records one attempt, the record at `sequence` in `OUTCOMES`, and moves its
/// delivery forward. Attempts are keyed by their record's id, so a record seen
/// before changes nothing while two executions are two attempts. Only a record with
/// a higher sequence than the one that last moved the delivery moves it again: the
/// order is the stream's, whatever the clocks of the hosts that wrote the records.
pub async fn attempt(
    conn: &mut AnyConnection,
    attempt: &DeliveryAttempt,
    sequence: u64,
) -> Result<(), StoreError> {
    let task = &attempt.task;
    let event = &task.event;
    let sequence = i64::try_from(sequence).unwrap_or(i64::MAX);
    // A manual attempt that fails does not end the delivery: a retry still held for
    // it (`retrying`) or its first automatic attempt (`pending`) still comes.
    let keeps_course = attempt.outcome == AttemptOutcome::Failed && task.trigger == Trigger::Manual;
    let status = match (attempt.outcome, task.trigger) {
        (AttemptOutcome::Succeeded, _) => status::SUCCESS,
        (AttemptOutcome::Failed, Trigger::Auto) => status::RETRYING,
        (AttemptOutcome::Failed, Trigger::Manual) | (AttemptOutcome::Refused, _) => status::FAILED,
    };
    let auto_sequence = if task.trigger == Trigger::Auto {
        sequence
    } else {
        0
    };
    let status_code = attempt.status_code.map(i64::from);
    let duration = i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX);
    let inserted = sqlx::query(
        "INSERT INTO attempts (tenant, delivery_id, record_id, sequence, attempt, trigger_kind, \
         outcome, status_code, duration_ms, error, response_excerpt, attempted_at, endpoint_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
    )
    .bind(&event.tenant)
    .bind(&task.delivery_id)
    .bind(attempt.message_id())
    .bind(sequence)
    .bind(i64::from(task.attempt))
    .bind(task.trigger.as_str())
    .bind(if attempt.outcome == AttemptOutcome::Succeeded {
        status::SUCCESS
    } else {
        status::FAILED
    })
    .bind(status_code)
    .bind(duration)
    .bind(attempt.error.as_deref())
    .bind(&attempt.response_excerpt)
    .bind(attempt.attempted_at_ms)
    .bind(&task.endpoint_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(());
    }
    sqlx::query(move_delivery(keeps_course))
        .bind(&event.tenant)
        .bind(&task.delivery_id)
        .bind(&task.endpoint_id)
        .bind(&event.event_id)
        .bind(event.event_type.as_str())
        .bind(event.job_id.as_deref())
        .bind(status)
        .bind(status_code)
        .bind(duration)
        .bind(attempt.error.as_deref())
        .bind(event.accepted_at_ms)
        .bind(attempt.attempted_at_ms)
        .bind(sequence)
        .bind(auto_sequence)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The upsert that moves (or creates) a delivery by one attempt record, `$1`-`$14`
/// as [`attempt`] binds them. Only a record with a higher sequence than the one
/// that last moved the delivery changes what it shows; with `keeps_course` (a
/// failed manual attempt) a `retrying` or `pending` delivery keeps its status and
/// `next_attempt_at`. Each of the two statements is built once, not per record.
fn move_delivery(keeps_course: bool) -> &'static str {
    static STATEMENTS: LazyLock<[String; 2]> =
        LazyLock::new(|| [false, true].map(move_delivery_sql));
    &STATEMENTS[usize::from(keeps_course)]
}

fn move_delivery_sql(keeps_course: bool) -> String {
    let newer = "excluded.last_sequence > deliveries.last_sequence";
    let (next_status, next_at) = if keeps_course {
        let held = format!(
            "deliveries.status IN ('{}', '{}')",
            status::RETRYING,
            status::PENDING
        );
        (
            format!("CASE WHEN {held} THEN deliveries.status ELSE excluded.status END"),
            format!("CASE WHEN {held} THEN deliveries.next_attempt_at ELSE NULL END"),
        )
    } else {
        ("excluded.status".to_owned(), "NULL".to_owned())
    };
    let pick = |column: &str| {
        format!("{column} = CASE WHEN {newer} THEN excluded.{column} ELSE deliveries.{column} END")
    };
    format!(
        "INSERT INTO deliveries (tenant, delivery_id, endpoint_id, event_id, event_type, job_id, \
         status, attempts, status_code, response_time_ms, last_error, next_attempt_at, created_at, \
         updated_at, last_sequence, auto_sequence) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, NULL, $11, $12, $13, $14) \
         ON CONFLICT (tenant, delivery_id) DO UPDATE SET \
           attempts = deliveries.attempts + 1, \
           status = CASE WHEN {newer} THEN {next_status} ELSE deliveries.status END, \
           next_attempt_at = CASE WHEN {newer} THEN {next_at} ELSE deliveries.next_attempt_at END, \
           {}, {}, {}, {}, {}, \
           auto_sequence = CASE WHEN excluded.auto_sequence > deliveries.auto_sequence \
             THEN excluded.auto_sequence ELSE deliveries.auto_sequence END",
        pick("status_code"),
        pick("response_time_ms"),
        pick("last_error"),
        pick("updated_at"),
        pick("last_sequence"),
    )
}

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
        Some(at) => (status::RETRYING, Some(at)),
        None => (status::FAILED, None),
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
    .bind(status::RETRYING)
    .bind(status::PENDING)
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
    let data = std::str::from_utf8(&event.data).unwrap_or("null");
    let inserted = sqlx::query(
        "INSERT INTO events (tenant, event_id, event_type, job_id, data, occurred_at, accepted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
    )
    .bind(&event.tenant)
    .bind(&event.event_id)
    .bind(event.event_type.as_str())
    .bind(event.job_id.as_deref())
    .bind(data)
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
    if event.event_type.as_str() == "webhook.disabled" {
        let data: serde_json::Value = serde_json::from_slice(&event.data).unwrap_or_default();
        if let Some(webhook_id) = data["webhook_id"].as_str() {
            fail_retrying(conn, &event.tenant, webhook_id).await?;
        }
    }
    Ok(())
}

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
    let wins = "(excluded.terminal > jobs.terminal OR \
                (excluded.terminal = jobs.terminal AND excluded.status_at >= jobs.status_at))";
    let progress_wins = "(excluded.progress IS NOT NULL AND \
                         (jobs.progress_at IS NULL OR excluded.progress_at >= jobs.progress_at))";
    let sql = format!(
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
    );
    sqlx::query(&sql)
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
    .bind(status::FAILED)
    .bind(tenant)
    .bind(endpoint_id)
    .bind(status::RETRYING)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(updated)
}

/// Records the deliveries a fan-out created as `pending`; a delivery already
/// attempted is left as it is.
pub async fn fan_out(conn: &mut AnyConnection, fan_out: &FanOut) -> Result<(), StoreError> {
    // One statement per chunk of rows: `$1`-`$6` are shared, then two per row.
    for chunk in fan_out.deliveries.chunks(FAN_OUT_ROWS) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let (delivery, endpoint) = (7 + 2 * i, 8 + 2 * i);
                format!("($1, ${delivery}, ${endpoint}, $2, $3, $4, $5, 0, $6, $6)")
            })
            .collect();
        let sql = format!(
            "INSERT INTO deliveries (tenant, delivery_id, endpoint_id, event_id, event_type, job_id, \
             status, attempts, created_at, updated_at) VALUES {} ON CONFLICT DO NOTHING",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(&fan_out.tenant)
            .bind(&fan_out.event_id)
            .bind(&fan_out.event_type)
            .bind(fan_out.job_id.as_deref())
            .bind(status::PENDING)
            .bind(fan_out.accepted_at_ms);
        for (delivery_id, endpoint_id) in chunk {
            query = query.bind(delivery_id).bind(endpoint_id);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Rows in one fan-out statement: well under every backend's parameter limit.
const FAN_OUT_ROWS: usize = 200;
