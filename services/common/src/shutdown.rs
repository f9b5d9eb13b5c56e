//! The signal that starts a drain, serving HTTP until it, and the drain's budget.
//!
//! A drain of `HERALD_SHUTDOWN_TIMEOUT` is split in two: work in flight (an HTTP
//! request, a delivery attempt) may run on for the first part, [`work_window`];
//! the rest, [`finish_reserve`], is for what follows it (recording an attempt,
//! acknowledging, handing back what is left, flushing the NATS connection). The
//! trace flush comes after the drain and takes at most
//! [`crate::telemetry::TRACE_FLUSH`]. So a pod's grace period must exceed its
//! preStop pause + `HERALD_SHUTDOWN_TIMEOUT` + the trace flush, and
//! `HERALD_SHUTDOWN_TIMEOUT` should exceed [`LONGEST_ATTEMPT`] + the reserve for
//! an attempt in flight at SIGTERM to finish rather than be cut.

use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The longest one delivery attempt may take: the upper bound of both
/// `HERALD_DELIVERY_TIMEOUT` and a webhook's `timeout_ms`.
pub const LONGEST_ATTEMPT: Duration = Duration::from_secs(30);

/// The most a drain keeps for finishing up after work in flight has had its time.
const FINISH_RESERVE: Duration = Duration::from_secs(5);

/// How much of a drain of `shutdown_timeout` is kept for finishing up after the
/// work in flight: 5 s, or a quarter of a shorter drain.
pub fn finish_reserve(shutdown_timeout: Duration) -> Duration {
    FINISH_RESERVE.min(shutdown_timeout / 4)
}

/// How long work in flight at SIGTERM may run on: the drain less
/// [`finish_reserve`]. Work still running then is cut and handed back (a delivery
/// task is offered again), so the drain still ends within `shutdown_timeout`.
pub fn work_window(shutdown_timeout: Duration) -> Duration {
    shutdown_timeout - finish_reserve(shutdown_timeout)
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Serves `router` on `listener` until `shutdown`, then lets open requests finish
/// for at most `grace`. A connection still open after it (a client that stopped
/// reading a live stream, say) is left to close when the process exits, so a drain
/// never waits on a client.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let stopping = shutdown.clone();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(async move { stopping.cancelled().await });
    tokio::select! {
        served = server => served,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(?grace, "HTTP connections still open after the drain's grace are cut");
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_drain_lets_the_longest_attempt_finish() {
        let default = Duration::from_secs(40);
        assert_eq!(work_window(default), Duration::from_secs(35));
        assert!(work_window(default) > LONGEST_ATTEMPT);
        // A short drain keeps a quarter for finishing up.
        assert_eq!(work_window(Duration::from_secs(8)), Duration::from_secs(6));
    }
}
