//! An attempt to a listening session (`herald listen`): the very request an HTTP
//! attempt would send, handed over core NATS to `herald.listen.<tenant>.<id>`,
//! where ingest relays it to the developer's CLI. The CLI makes the local request
//! and its answer comes back as the reply, so the attempt is recorded like any
//! other. The dispatcher never dials the developer's machine.

use std::time::{Duration, Instant};

use async_nats::RequestErrorKind;
use herald_proto::listen::{ListenReply, ListenRequest};

use crate::sender::Response;

/// The attempt's failure when no CLI follows the session.
pub const NO_LISTENER: &str = "no listener is connected";

/// Sends `request` to the session's `subject` and waits up to `timeout` for the
/// local answer.
pub async fn send(
    client: &async_nats::Client,
    subject: String,
    request: ListenRequest,
    timeout: Duration,
) -> Response {
    let started = Instant::now();
    let asked = client
        .send_request(
            subject,
            async_nats::Request::new()
                .payload(herald_proto::query::encode(&request))
                .timeout(Some(timeout)),
        )
        .await;
    let failed = |error: String| Response::failed(error, elapsed_ms(started));
    let message = match asked {
        Ok(message) => message,
        Err(err) => {
            return failed(match err.kind() {
                RequestErrorKind::NoResponders => NO_LISTENER.to_owned(),
                RequestErrorKind::TimedOut => {
                    format!("timed out after {} ms", timeout.as_millis())
                }
                _ => "the request to the listener failed".to_owned(),
            });
        }
    };
    let Ok(reply) = herald_proto::query::decode::<ListenReply>(&message.payload) else {
        return failed("the listener's answer could not be read".to_owned());
    };
    response(reply, elapsed_ms(started))
}

/// The attempt's outcome from the CLI's `reply`: its status and excerpt, as an HTTP
/// attempt's; the local request's duration when given, else the round trip.
fn response(reply: ListenReply, round_trip_ms: u64) -> Response {
    let status_code = u16::try_from(reply.status)
        .ok()
        .filter(|s| (100..600).contains(s));
    let error = match status_code {
        Some(code) if (200..300).contains(&code) => None,
        Some(code) => Some(format!("HTTP {code}")),
        None if reply.error.is_empty() => Some("the local request got no answer".to_owned()),
        None => Some(format!(
            "local request: {}",
            herald_proto::cut(&reply.error, 200)
        )),
    };
    Response {
        status_code,
        duration_ms: if reply.duration_ms > 0 {
            reply.duration_ms
        } else {
            round_trip_ms
        },
        error,
        excerpt: herald_proto::cut(&reply.excerpt, herald_proto::listen::EXCERPT_BYTES).to_owned(),
        retry_after_secs: None,
        refused: false,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u32, excerpt: &str, error: &str) -> ListenReply {
        ListenReply {
            status,
            duration_ms: 7,
            excerpt: excerpt.to_owned(),
            error: error.to_owned(),
        }
    }

    #[test]
    fn a_reply_becomes_the_response_an_http_attempt_gives() {
        let ok = response(reply(204, "", ""), 50);
        assert!(ok.succeeded());
        assert_eq!((ok.status_code, ok.duration_ms), (Some(204), 7));
        let failed = response(reply(500, "boom", ""), 50);
        assert!(!failed.succeeded() && !failed.refused);
        assert_eq!(failed.error.as_deref(), Some("HTTP 500"));
        assert_eq!(failed.excerpt, "boom");
        let unanswered = response(reply(0, "", "connection refused"), 50);
        assert_eq!(unanswered.status_code, None);
        assert_eq!(
            unanswered.error.as_deref(),
            Some("local request: connection refused")
        );
        let long = response(reply(200, &"é".repeat(5000), ""), 50);
        assert!(long.excerpt.len() <= herald_proto::listen::EXCERPT_BYTES);
    }
}
