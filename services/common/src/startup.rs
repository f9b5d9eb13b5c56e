//! Starting against a NATS server or cluster that is not ready yet: each start-up
//! step (connecting, provisioning streams, opening buckets and consumers) is tried
//! again with bounded exponential backoff until it succeeds, shutdown is asked
//! for, or it fails in a way only a change of configuration fixes. Meanwhile
//! [`Startup::status`] says what the service is waiting for, for `/readyz`.
//! See `docs/startup.md`.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// The pause after the first failed attempt of a step; it doubles after each.
pub const FIRST_DELAY: Duration = Duration::from_millis(250);
/// The longest pause between two attempts of a step.
pub const MAX_DELAY: Duration = Duration::from_secs(5);
/// A step that keeps failing is logged at most this often (with the number of
/// attempts so far), so a long wait does not flood the log.
pub const LOG_EVERY: Duration = Duration::from_secs(15);

/// A failure of a start-up step: worth trying again, or not.
pub trait StartError: std::fmt::Display + From<crate::Error> {
    /// Whether trying again may succeed without a change of configuration: an
    /// unreachable server, JetStream or a stream leader not there yet, too few
    /// peers while a cluster forms.
    fn is_transient(&self) -> bool;
}

impl StartError for crate::Error {
    fn is_transient(&self) -> bool {
        use crate::Error::*;
        match self {
            Config(_)
            | Refused { .. }
            | ServerTooOld { .. }
            | PayloadTooSmall { .. }
            | NoJetStream { .. }
            | Stopped => false,
            Connect { .. } | Provision { .. } | Nats(_) | Io(_) => true,
        }
    }
}

/// How far a service (or, in `herald all`, every service of the process) has got
/// in starting, shared with the HTTP listener that answers while it starts.
#[derive(Clone)]
pub struct Startup {
    /// What it is waiting for, with the last failure; `None` once started.
    waiting: Arc<Mutex<Option<String>>>,
    shutdown: CancellationToken,
}

impl Startup {
    /// A start-up that gives up waiting when `shutdown` is cancelled.
    pub fn new(shutdown: CancellationToken) -> Self {
        Startup {
            waiting: Arc::new(Mutex::new(Some("starting".to_owned()))),
            shutdown,
        }
    }

    /// What the start-up is waiting for (`provisioning streams: <last failure>`),
    /// or `None` once [`Startup::finish`] was called.
    pub fn status(&self) -> Option<String> {
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set(&self, status: Option<String>) {
        *self.waiting.lock().unwrap_or_else(|e| e.into_inner()) = status;
    }

    /// Every step has succeeded: the service's own readiness checks take over.
    pub fn finish(&self) {
        self.set(None);
    }

    /// Runs `attempt` until it succeeds, it fails for good (not
    /// [`StartError::is_transient`]), or shutdown is asked for
    /// ([`crate::Error::Stopped`]). `step` names what it does, in `/readyz` and
    /// the log: `provisioning streams`.
    pub async fn retry<T, E, F, Fut>(&self, step: &str, mut attempt: F) -> Result<T, E>
    where
        E: StartError,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.set(Some(step.to_owned()));
        let started = Instant::now();
        let mut backoff = Backoff::default();
        let mut last_logged: Option<Instant> = None;
        for attempts in 1u32.. {
            let result = tokio::select! {
                result = attempt() => result,
                () = self.shutdown.cancelled() => return Err(crate::Error::Stopped.into()),
            };
            let err = match result {
                Ok(value) => {
                    if attempts > 1 {
                        tracing::info!(
                            step,
                            attempts,
                            waited = ?started.elapsed(),
                            "start-up step succeeded after waiting"
                        );
                    }
                    return Ok(value);
                }
                Err(err) if !err.is_transient() => return Err(err),
                Err(err) => err,
            };
            self.set(Some(format!("{step}: {err}")));
            if last_logged.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
                last_logged = Some(Instant::now());
                tracing::warn!(
                    step,
                    attempts,
                    waited = ?started.elapsed(),
                    error = %err,
                    "start-up step failed; trying again"
                );
            }
            tokio::select! {
                () = tokio::time::sleep(backoff.next()) => {}
                () = self.shutdown.cancelled() => return Err(crate::Error::Stopped.into()),
            }
        }
        unreachable!("attempts are counted without end")
    }
}

/// Pauses doubling from [`FIRST_DELAY`] to [`MAX_DELAY`], each shortened by a
/// random part of up to a half so replicas starting together spread out.
#[derive(Debug, Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn ceiling(&self) -> Duration {
        FIRST_DELAY
            .saturating_mul(1 << self.failures.min(16))
            .min(MAX_DELAY)
    }

    fn next(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures += 1;
        ceiling.mul_f64(rand::random_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let mut backoff = Backoff::default();
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            ceilings.push(backoff.ceiling());
            let pause = backoff.next();
            assert!(pause <= *ceilings.last().unwrap());
            assert!(pause >= *ceilings.last().unwrap() / 2);
        }
        assert_eq!(ceilings[0], FIRST_DELAY);
        assert_eq!(ceilings[1], FIRST_DELAY * 2);
        assert_eq!(*ceilings.last().unwrap(), MAX_DELAY);
        for _ in 0..100 {
            assert!(backoff.next() <= MAX_DELAY);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_tried_again_and_reported() {
        let startup = Startup::new(CancellationToken::new());
        let mut failures = 3;
        let watcher = startup.clone();
        let value = startup
            .retry("provisioning streams", || {
                let fail = failures > 0;
                failures -= 1;
                if fail && failures < 2 {
                    assert!(
                        watcher
                            .status()
                            .unwrap()
                            .starts_with("provisioning streams: cannot provision")
                    );
                }
                async move {
                    if fail {
                        Err(crate::Error::Provision {
                            what: "stream EVENTS".into(),
                            reason: "insufficient resources".into(),
                        })
                    } else {
                        Ok(7)
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(value, 7);
        assert!(startup.status().is_some(), "finished only when told");
        startup.finish();
        assert_eq!(startup.status(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn configuration_errors_and_shutdown_end_the_wait() {
        let startup = Startup::new(CancellationToken::new());
        let err = startup
            .retry("connecting to NATS", || async {
                Err::<(), _>(crate::Error::Refused {
                    reason: "refused".into(),
                })
            })
            .await
            .unwrap_err();
        assert!(matches!(err, crate::Error::Refused { .. }));

        let shutdown = CancellationToken::new();
        let startup = Startup::new(shutdown.clone());
        let waiting = tokio::spawn(async move {
            startup
                .retry("connecting to NATS", || async {
                    Err::<(), _>(crate::Error::Connect {
                        url: "nats://127.0.0.1:1".into(),
                        reason: "connection refused".into(),
                    })
                })
                .await
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        shutdown.cancel();
        let err = waiting.await.unwrap().unwrap_err();
        assert!(matches!(err, crate::Error::Stopped), "{err}");
    }
}
