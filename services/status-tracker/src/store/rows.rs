//! Multi-row writes: the fan-outs, attempts, delivery moves and events of a run of
//! records, many rows to a statement. A statement holds a number of rows from a
//! small fixed set ([`CHUNKS`]), so its text is one of a few built once: the
//! connection's cache of prepared statements, keyed by text, keeps answering, and
//! the parameters stay far below every backend's limit (13 × 128 at most).

use std::collections::HashSet;
use std::sync::LazyLock;

use herald_proto::{AttemptOutcome, DeliveryAttempt, Event, FanOut, Trigger};
use sqlx::any::AnyArguments;
use sqlx::{Any, AnyConnection, Row};

use super::StoreError;
use herald_proto::names::DeliveryStatus;

type Query<'q> = sqlx::query::Query<'q, Any, AnyArguments<'q>>;

/// Rows one statement may hold, in ascending powers of two, so that any number of
/// rows is written in at most as many statements as the largest has bits.
const CHUNKS: [usize; 8] = [1, 2, 4, 8, 16, 32, 64, 128];

/// Splits `rows` into chunks of sizes from [`CHUNKS`], largest first.
fn chunks<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        let size = CHUNKS.iter().rev().find(|&&size| size <= rows.len())?;
        let (chunk, rest) = rows.split_at(*size);
        rows = rest;
        Some(chunk)
    })
}

/// A statement's text for each size in [`CHUNKS`]: with numbered parameters
/// (`$1`, PostgreSQL), and with anonymous ones (`?`, SQLite, whose driver looks
/// each numbered parameter up in a list, a cost that grows with the square of
/// their number).
struct Texts {
    numbered: [String; CHUNKS.len()],
    anonymous: [String; CHUNKS.len()],
}

impl Texts {
    /// `sql(values)` where `values` is `VALUES` and copies of `row`, whose
    /// parameters must be `$1`-`$width`, each once and in order, as the rows'
    /// values are bound one after another.
    fn new(row: &str, width: usize, sql: impl Fn(&str) -> String) -> Self {
        let numbers: Vec<usize> = parameters(row).map(|(_, number)| number).collect();
        assert!(numbers.iter().copied().eq(1..=width), "parameters of {row}");
        Texts {
            numbered: CHUNKS.map(|rows| sql(&values(row, rows, |n| format!("${n}")))),
            anonymous: CHUNKS.map(|rows| sql(&values(row, rows, |_| "?".to_owned()))),
        }
    }

    /// The text for `chunk`, a chunk of [`chunks`], on `conn`'s backend.
    fn get<T>(&self, conn: &AnyConnection, chunk: &[T]) -> &str {
        let texts = if conn.backend_name() == "SQLite" {
            &self.anonymous
        } else {
            &self.numbered
        };
        &texts[chunk.len().trailing_zeros() as usize]
    }
}

/// The parameters of `sql`: where each `$n` is and `n`.
fn parameters(sql: &str) -> impl Iterator<Item = (std::ops::Range<usize>, usize)> + '_ {
    sql.match_indices('$').map(|(at, _)| {
        let digits = sql[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
        let end = at + 1 + digits;
        (at..end, sql[at + 1..end].parse().unwrap_or(0))
    })
}

/// `VALUES` and `rows` copies of `row`, each of its parameters written as `name(n)`
/// with `n` counted on from one copy to the next.
fn values(row: &str, rows: usize, name: impl Fn(usize) -> String) -> String {
    let mut values = String::from("VALUES ");
    let mut number = 0;
    for copy in 0..rows {
        if copy > 0 {
            values.push_str(", ");
        }
        let mut copied = 0;
        for (at, _) in parameters(row) {
            values.push_str(&row[copied..at.start]);
            number += 1;
            values.push_str(&name(number));
            copied = at.end;
        }
        values.push_str(&row[copied..]);
    }
    values
}

/// Records the deliveries of fan-outs as `pending`; a delivery already recorded is
/// left as it is.
pub async fn fan_outs(
    conn: &mut AnyConnection,
    rows: &[(&FanOut, &(String, String))],
) -> Result<(), StoreError> {
    static TEXTS: LazyLock<Texts> = LazyLock::new(|| {
        Texts::new("($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)", 9, |values| {
            format!(
                "INSERT INTO deliveries (tenant, delivery_id, endpoint_id, event_id, event_type, \
                 job_id, status, attempts, created_at, updated_at) {values} ON CONFLICT DO NOTHING"
            )
        })
    });
    for chunk in chunks(rows) {
        let mut query = sqlx::query(TEXTS.get(conn, chunk));
        for (fan_out, (delivery_id, endpoint_id)) in chunk {
            query = query
                .bind(fan_out.tenant.as_str())
                .bind(delivery_id.as_str())
                .bind(endpoint_id.as_str())
                .bind(fan_out.event_id.as_str())
                .bind(fan_out.event_type.as_str())
                .bind(fan_out.job_id.as_deref())
                .bind(DeliveryStatus::Pending.as_str())
                .bind(fan_out.accepted_at_ms)
                .bind(fan_out.accepted_at_ms);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// An attempt record to write: the attempt, its record's sequence in `OUTCOMES`
/// and its id, which keys it.
#[derive(Debug)]
pub struct Attempt<'a> {
    attempt: &'a DeliveryAttempt,
    pub sequence: i64,
    pub record_id: String,
}

impl<'a> Attempt<'a> {
    pub fn new(attempt: &'a DeliveryAttempt, sequence: u64) -> Self {
        Attempt {
            attempt,
            sequence: i64::try_from(sequence).unwrap_or(i64::MAX),
            record_id: attempt.message_id(),
        }
    }

    /// A manual attempt that fails does not end the delivery: a retry still held
    /// for it (`retrying`) or its first automatic attempt (`pending`) still comes.
    pub fn keeps_course(&self) -> bool {
        keeps_course(self.attempt)
    }

    /// The tenant and id of the delivery it moves.
    pub fn delivery(&self) -> (&'a str, &'a str) {
        let task = &self.attempt.task;
        (task.event.tenant.as_str(), task.delivery_id.as_str())
    }

    /// The status the attempt gives its delivery.
    fn status(&self) -> DeliveryStatus {
        match (self.attempt.outcome, self.attempt.task.trigger) {
            (AttemptOutcome::Succeeded, _) => DeliveryStatus::Success,
            (AttemptOutcome::Failed, Trigger::Auto) => DeliveryStatus::Retrying,
            (AttemptOutcome::Failed, Trigger::Manual) | (AttemptOutcome::Refused, _) => {
                DeliveryStatus::Failed
            }
        }
    }

    fn duration_ms(&self) -> i64 {
        i64::try_from(self.attempt.duration_ms).unwrap_or(i64::MAX)
    }
}

/// Whether `attempt` (a failed manual one) leaves its delivery's course as it is.
pub fn keeps_course(attempt: &DeliveryAttempt) -> bool {
    attempt.outcome == AttemptOutcome::Failed && attempt.task.trigger == Trigger::Manual
}

/// Inserts the attempts not recorded yet and returns the record ids of those it
/// inserted (a record id names one attempt; the attempts of one bundle share a
/// sequence).
pub async fn attempts(
    conn: &mut AnyConnection,
    attempts: &[Attempt<'_>],
) -> Result<HashSet<String>, StoreError> {
    static TEXTS: LazyLock<Texts> = LazyLock::new(|| {
        Texts::new(
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            13,
            |values| {
                format!(
                    "INSERT INTO attempts (tenant, delivery_id, record_id, sequence, attempt, \
                     trigger_kind, outcome, status_code, duration_ms, error, response_excerpt, \
                     attempted_at, endpoint_id) {values} ON CONFLICT DO NOTHING RETURNING record_id"
                )
            },
        )
    });
    let mut inserted = HashSet::with_capacity(attempts.len());
    for chunk in chunks(attempts) {
        let mut query = sqlx::query(TEXTS.get(conn, chunk));
        for row in chunk {
            let (attempt, task) = (row.attempt, &row.attempt.task);
            query = query
                .bind(task.event.tenant.as_str())
                .bind(task.delivery_id.as_str())
                .bind(row.record_id.as_str())
                .bind(row.sequence)
                .bind(i64::from(task.attempt))
                .bind(task.trigger.as_str())
                .bind(if attempt.outcome == AttemptOutcome::Succeeded {
                    DeliveryStatus::Success.as_str()
                } else {
                    DeliveryStatus::Failed.as_str()
                })
                .bind(attempt.status_code.map(i64::from))
                .bind(row.duration_ms())
                .bind(attempt.error.as_deref())
                .bind(attempt.response_excerpt.as_str())
                .bind(attempt.attempted_at_ms)
                .bind(task.endpoint_id.as_str());
        }
        for returned in query.fetch_all(&mut *conn).await? {
            inserted.insert(returned.try_get::<String, _>(0)?);
        }
    }
    Ok(inserted)
}

/// Moves (or creates) the delivery of each attempt by it; all of `attempts` keep
/// course (a failed manual attempt) or none does. The deliveries must differ: a
/// backend may refuse to update one row twice in a statement.
pub async fn moves(
    conn: &mut AnyConnection,
    attempts: &[&Attempt<'_>],
    keeps_course: bool,
) -> Result<(), StoreError> {
    static TEXTS: LazyLock<[Texts; 2]> = LazyLock::new(|| [false, true].map(move_texts));
    let texts = &TEXTS[usize::from(keeps_course)];
    for chunk in chunks(attempts) {
        let mut query = sqlx::query(texts.get(conn, chunk));
        for row in chunk {
            query = bind_move(query, row);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Binds one row of a move, `$1`-`$14` of [`move_texts`].
fn bind_move<'q>(query: Query<'q>, row: &'q Attempt<'_>) -> Query<'q> {
    let (attempt, task) = (row.attempt, &row.attempt.task);
    let event = &task.event;
    let auto_sequence = if task.trigger == Trigger::Auto {
        row.sequence
    } else {
        0
    };
    query
        .bind(event.tenant.as_str())
        .bind(task.delivery_id.as_str())
        .bind(task.endpoint_id.as_str())
        .bind(event.event_id.as_str())
        .bind(event.event_type.as_str())
        .bind(event.job_id.as_deref())
        .bind(row.status().as_str())
        .bind(attempt.status_code.map(i64::from))
        .bind(row.duration_ms())
        .bind(attempt.error.as_deref())
        .bind(event.accepted_at_ms)
        .bind(attempt.attempted_at_ms)
        .bind(row.sequence)
        .bind(auto_sequence)
}

/// The upsert that moves (or creates) deliveries by attempt records. Only a record
/// with a higher sequence than the one that last moved the delivery changes what it
/// shows; with `keeps_course` (a failed manual attempt) a `retrying` or `pending`
/// delivery keeps its status and `next_attempt_at`.
fn move_texts(keeps_course: bool) -> Texts {
    let newer = "excluded.last_sequence > deliveries.last_sequence";
    let (next_status, next_at) = if keeps_course {
        let held = format!(
            "deliveries.status IN ('{}', '{}')",
            DeliveryStatus::Retrying.as_str(),
            DeliveryStatus::Pending.as_str()
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
    let update = format!(
        "attempts = deliveries.attempts + 1, \
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
    );
    Texts::new(
        "($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, NULL, $11, $12, $13, $14)",
        14,
        |values| {
            format!(
                "INSERT INTO deliveries (tenant, delivery_id, endpoint_id, event_id, event_type, \
                 job_id, status, attempts, status_code, response_time_ms, last_error, \
                 next_attempt_at, created_at, updated_at, last_sequence, auto_sequence) {values} \
                 ON CONFLICT (tenant, delivery_id) DO UPDATE SET {update}"
            )
        },
    )
}

/// Records accepted events; an event already recorded is left as it is. Only for
/// events that move nothing else (no job, not one of Herald's own that acts).
pub async fn events(conn: &mut AnyConnection, events: &[&Event]) -> Result<(), StoreError> {
    static TEXTS: LazyLock<Texts> = LazyLock::new(|| {
        Texts::new("($1, $2, $3, $4, $5, $6, $7)", 7, |values| {
            format!(
                "INSERT INTO events (tenant, event_id, event_type, job_id, data, occurred_at, \
                 accepted_at) {values} ON CONFLICT DO NOTHING"
            )
        })
    });
    for chunk in chunks(events) {
        let mut query = sqlx::query(TEXTS.get(conn, chunk));
        for event in chunk {
            query = query
                .bind(event.tenant.as_str())
                .bind(event.event_id.as_str())
                .bind(event.event_type.as_str())
                .bind(event.job_id.as_deref())
                .bind(data(event))
                .bind(event.timestamp_ms)
                .bind(event.accepted_at_ms);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// An event's data as stored: its JSON text (`null` if it is not UTF-8).
pub fn data(event: &Event) -> &str {
    std::str::from_utf8(&event.data).unwrap_or("null")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_number_of_rows_is_split_into_the_fixed_sizes() {
        for n in [0, 1, 3, 128, 129, 255, 256, 1000] {
            let rows: Vec<usize> = (0..n).collect();
            let sizes: Vec<usize> = chunks(&rows).map(<[usize]>::len).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|size| CHUNKS.contains(size)), "{sizes:?}");
            assert!(sizes.is_sorted_by(|a, b| a >= b), "{sizes:?}");
        }
    }

    #[test]
    fn each_copy_of_a_row_has_parameters_of_its_own() {
        let texts = Texts::new("($1, 0, $2)", 2, |values| format!("INSERT {values}"));
        assert_eq!(texts.numbered[0], "INSERT VALUES ($1, 0, $2)");
        assert_eq!(
            texts.numbered[2],
            "INSERT VALUES ($1, 0, $2), ($3, 0, $4), ($5, 0, $6), ($7, 0, $8)"
        );
        assert!(texts.numbered[7].ends_with("($255, 0, $256)"));
        assert_eq!(texts.anonymous[1], "INSERT VALUES (?, 0, ?), (?, 0, ?)");
    }

    #[test]
    #[should_panic(expected = "parameters of")]
    fn a_row_must_name_its_parameters_once_and_in_order() {
        Texts::new("($2, $1)", 2, |values| values.to_owned());
    }
}
