//! What a started service hands back, and running it: its work until shutdown, with
//! its health routes served meanwhile when it has a listener of its own.

use std::future::Future;
use std::pin::Pin;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health::Readiness;

/// A service's consumers and responders, running until shutdown.
pub type Work = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A connected, provisioned service.
pub struct Started {
    pub readiness: Readiness,
    pub work: Work,
}

impl Started {
    /// Runs the work until `shutdown`, serving `/healthz`, `/readyz` and `/metrics`
    /// on `listener` when given.
    pub async fn run(self, listener: Option<TcpListener>, shutdown: CancellationToken) {
        let server = listener.map(|listener| {
            let router = crate::health::routes(self.readiness.clone());
            // Health and metrics answer at once; nothing is worth waiting for.
            let grace = std::time::Duration::from_secs(5);
            tokio::spawn(crate::shutdown::serve(
                listener,
                router,
                shutdown.clone(),
                grace,
            ))
        });
        self.work.await;
        if let Some(server) = server {
            let _ = server.await;
        }
    }
}
