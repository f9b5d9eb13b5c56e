//! The integration-test harness: a real `nats-server` per test (JetStream, temporary
//! store, a port it chose itself), Herald started in-process on `127.0.0.1:0` (or
//! as a child process, for tests that kill it), a recording HTTP receiver, and
//! helpers to poll with a deadline instead of sleeping.

#![forbid(unsafe_code)]

pub mod api;
pub mod herald;
pub mod nats;
pub mod otlp;
pub mod receiver;
pub mod verify;

use std::future::Future;
use std::time::{Duration, Instant};

pub use api::Api;
pub use herald::Herald;
pub use nats::NatsServer;
pub use receiver::Receiver;

/// How long a test waits for something that must happen. Generous on purpose: it
/// covers a message handed out again after its ack wait (30 s), the at-least-once
/// path, on a machine busy with the whole suite. Only a failing test waits it out.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The workspace root, for finding built binaries and installed tools.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}
