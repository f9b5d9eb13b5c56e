//! The integration-test harness: a real `nats-server` per test (JetStream, temporary
//! store, a port it chose itself), Herald started in-process on `127.0.0.1:0` (or
//! as a child process, for tests that kill it), a recording HTTP receiver, a
//! PostgreSQL schema per store test, a process's memory from `/proc`, test
//! certificates and NATS operator JWTs, and helpers
//! to poll with a deadline instead of sleeping.

#![forbid(unsafe_code)]

pub mod api;
pub mod db;
pub mod herald;
pub mod jwt;
pub mod metrics;
pub mod nats;
pub mod otlp;
pub mod pki;
pub mod procfs;
pub mod receiver;
pub mod verify;

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use api::Api;
pub use herald::Herald;
pub use nats::NatsServer;
pub use receiver::Receiver;

/// How long a test waits for something that must happen. Generous on purpose: it
/// covers a message handed out again after its ack wait (30 s), the at-least-once
/// path, on a machine busy with the whole suite. Only a failing test waits it out.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
/// The pause between checks doubles from 25 ms to 200 ms: prompt when the answer
/// is near, and light on a machine that runs the whole suite at once.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(25);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// A TCP port on loopback that was free a moment ago, for a process that must be
/// told its address before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("a bound address")
        .port()
}

/// Serves `router` on a free loopback port until the returned token is cancelled.
pub async fn serve(router: axum::Router) -> (std::net::SocketAddr, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    serve_on(listener, router)
}

/// Serves `router` on `listener` until the returned token is cancelled.
pub fn serve_on(
    listener: tokio::net::TcpListener,
    router: axum::Router,
) -> (std::net::SocketAddr, CancellationToken) {
    let addr = listener.local_addr().expect("address");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
    });
    (addr, shutdown)
}

/// The workspace root, for finding built binaries and installed tools.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}
