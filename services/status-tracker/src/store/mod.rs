//! The store: SQLite (a file) by default, PostgreSQL when `DATABASE_URL` says so.
//! The same migrations and queries run on both through sqlx's `Any` driver. Every
//! write is an idempotent upsert, so a message consumed twice changes nothing, and
//! writes arrive in batches, one transaction each.
//!
//! - [`batch`]: a batch cut into runs that are written kind by kind.
//! - [`rows`]: the multi-row statements of fan-outs, attempts and events.
//! - [`writes`]: retry decisions, and events that move jobs or deliveries.
//! - [`reads`]: the views the API shows, and what can be retried by hand.
//! - [`sql`]: the statements of the hot paths, each answered by an index.

mod batch;
mod reads;
mod rows;
pub mod sql;
mod writes;

use std::str::FromStr;
use std::time::Duration;

use herald_proto::{DeliveryAttempt, Event, FanOut, RetryDecision};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub use reads::{JobPage, Retryable, RetryablePage, TOTAL_CAP};
pub use sql::DeliveryFilter;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The question cannot be answered as asked (a forged cursor, say): the
    /// asker's mistake, told in words fit for the API's client.
    #[error("{0}")]
    Invalid(String),
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// One message's worth of writing.
#[derive(Debug, Clone)]
pub enum Record {
    /// An attempt and its record's sequence in `OUTCOMES`, which orders it.
    Attempt(Box<DeliveryAttempt>, u64),
    Decision(RetryDecision),
    Event(Box<Event>),
    FanOut(FanOut),
}

/// What became of a record in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Done,
    /// It depends on a record not written yet (a decision before its attempt).
    Later,
}

#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
}

impl Store {
    /// Connects to `url` (`sqlite://...` or `postgres://...`) with the default pool
    /// size and migrates.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_pooled(url, crate::config::default_db_pool_size()).await
    }

    /// Connects to `url` and migrates, holding at most `pool_size` connections to
    /// PostgreSQL (`HERALD_DB_POOL_SIZE`); SQLite gets one whatever `pool_size` says.
    pub async fn connect_pooled(url: &str, pool_size: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        let options = AnyConnectOptions::from_str(url)?;
        let pool = AnyPoolOptions::new()
            // SQLite has one writer; more connections only wait on each other.
            .max_connections(if is_sqlite { 1 } else { pool_size.max(1) })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if is_sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                        // A statement of many rows keeps the pages it changes until
                        // it is done, in case it fails halfway: in memory, not in a
                        // temporary file written and read back (sorts still spill
                        // to files).
                        conn.execute("PRAGMA temp_store = MEMORY").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Writes `records` in one transaction, storing what writing them one by one in
    /// order would, and says what became of each.
    pub async fn record_batch(&self, records: &[Record]) -> Result<Vec<Written>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut written = Vec::with_capacity(records.len());
        for run in batch::runs(records) {
            batch::write_run(&mut tx, run, &mut written).await?;
        }
        tx.commit().await?;
        Ok(written)
    }

    /// Records `attempt`, the record at `sequence` in `OUTCOMES`.
    pub async fn record_attempt(
        &self,
        attempt: &DeliveryAttempt,
        sequence: u64,
    ) -> Result<(), StoreError> {
        self.record_batch(&[Record::Attempt(Box::new(attempt.clone()), sequence)])
            .await
            .map(|_| ())
    }

    /// Returns `false` when the attempt it follows is not recorded yet.
    pub async fn record_decision(&self, decision: &RetryDecision) -> Result<bool, StoreError> {
        let written = self
            .record_batch(&[Record::Decision(decision.clone())])
            .await?;
        Ok(written[0] == Written::Done)
    }

    pub async fn record_event(&self, event: &Event) -> Result<(), StoreError> {
        self.record_batch(&[Record::Event(Box::new(event.clone()))])
            .await
            .map(|_| ())
    }

    /// A disabled webhook's retries were dropped: its `retrying` deliveries have no
    /// attempt left.
    pub async fn fail_retrying(&self, tenant: &str, endpoint_id: &str) -> Result<u64, StoreError> {
        let mut conn = self.pool.acquire().await?;
        writes::fail_retrying(&mut conn, tenant, endpoint_id).await
    }

    /// Deletes records last touched before `before_ms`, at most `batch` rows of a
    /// table per statement, so writers are never held up for long. Returns how many
    /// rows went.
    pub async fn prune(&self, before_ms: i64, batch: u32) -> Result<u64, StoreError> {
        let mut total = 0;
        for statement in sql::PRUNE {
            loop {
                let deleted = sqlx::query(statement)
                    .bind(before_ms)
                    .bind(i64::from(batch))
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                total += deleted;
                if deleted < u64::from(batch) {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok(total)
    }
}
