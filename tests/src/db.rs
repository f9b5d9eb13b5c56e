//! Throw-away databases for status-store tests: a PostgreSQL schema of its own per
//! test, dropped when the test is done.

use sqlx::Executor;

/// What to clean up after a store: the SQLite file's directory or the PostgreSQL schema.
pub enum Scratch {
    /// Deleted when dropped.
    Dir(tempfile::TempDir),
    /// A connection to the database, and the schema to drop.
    Schema(sqlx::PgPool, String),
}

impl Scratch {
    pub async fn clean(self) {
        if let Scratch::Schema(admin, schema) = self {
            let _ = admin
                .execute(format!("DROP SCHEMA {schema} CASCADE").as_str())
                .await;
        }
    }
}

/// Creates a schema `{prefix}_<unique>` in the PostgreSQL database at `url`, and
/// returns a URL whose connections use it, with what drops it again.
pub async fn scratch_schema(url: &str, prefix: &str) -> (String, Scratch) {
    let schema = format!("{prefix}_{}_{}", std::process::id(), unique_suffix());
    let admin = sqlx::PgPool::connect(url)
        .await
        .expect("TEST_DATABASE_URL reachable");
    admin
        .execute(format!("CREATE SCHEMA {schema}").as_str())
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let scoped = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    (scoped, Scratch::Schema(admin, schema))
}

/// Unique within this process, and unlikely to repeat across processes.
fn unique_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{nanos}_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
