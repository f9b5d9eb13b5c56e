//! Retention: records older than `HERALD_RETENTION_DAYS` (default 30) are pruned
//! every `HERALD_RETENTION_INTERVAL` (default 1 h), in small batches so writers are
//! never held up for long.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// Rows deleted per statement.
const BATCH: u32 = 1000;

#[derive(Debug, Clone, Copy)]
pub struct Retention {
    /// How long records are kept.
    pub keep: Duration,
    /// How often pruning runs.
    pub interval: Duration,
}

pub async fn run(store: Store, retention: Retention, shutdown: CancellationToken) {
    loop {
        let before =
            herald_proto::now_ms() - i64::try_from(retention.keep.as_millis()).unwrap_or(i64::MAX);
        match store.prune(before, BATCH).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(rows, "pruned old records"),
            Err(err) => tracing::warn!(error = %err, "cannot prune old records"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(retention.interval) => {}
        }
    }
}
