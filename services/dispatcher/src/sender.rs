//! One HTTP attempt: build the signed request, send it over the shared keep-alive
//! pool, and describe what happened.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};

use herald_proto::names::header::{TRACEPARENT, http};

use crate::signing;
use crate::ssrf::{GuardedResolver, Policy, UNRESOLVED, is_unresolved};

/// At most this much of a response body is kept.
pub const EXCERPT_BYTES: usize = 4096;

/// What a receiver is sent.
#[derive(Debug)]
pub struct Request<'a> {
    /// The target, parsed once by the caller; `None` when it is no URL.
    pub url: Option<&'a url::Url>,
    pub body: Vec<u8>,
    /// Secrets to sign with (more than one during rotation).
    pub secrets: Vec<&'a str>,
    /// The message id: the event id.
    pub msg_id: &'a str,
    /// The subscription id, for `X-Webhook-ID`.
    pub webhook_id: &'a str,
    pub headers: &'a BTreeMap<String, String>,
    pub timeout: Duration,
    /// W3C trace context for the receiver.
    pub traceparent: Option<&'a str>,
}

/// What came of one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub error: Option<String>,
    pub excerpt: String,
    pub retry_after_secs: Option<u32>,
    /// Refused by policy before anything was sent; never retried.
    pub refused: bool,
}

impl Response {
    /// The attempt failed after `duration_ms` with `error`, no answer read; tried
    /// again on the schedule.
    pub fn failed(error: String, duration_ms: u64) -> Self {
        Response {
            status_code: None,
            duration_ms,
            error: Some(error),
            excerpt: String::new(),
            retry_after_secs: None,
            refused: false,
        }
    }

    /// Nothing was sent: policy refused the target.
    pub fn refused(reason: String) -> Self {
        Response {
            status_code: None,
            duration_ms: 0,
            error: Some(reason),
            excerpt: String::new(),
            retry_after_secs: None,
            refused: true,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.error.is_none() && self.status_code.is_some_and(|c| (200..300).contains(&c))
    }
}

/// The HTTP client every delivery shares.
#[derive(Debug, Clone)]
pub struct Sender {
    client: reqwest::Client,
    policy: Arc<Policy>,
    user_agent: HeaderValue,
}

impl Sender {
    pub fn new(policy: Policy, user_agent: &str) -> Result<Self, reqwest::Error> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(GuardedResolver {
                policy: policy.clone(),
            })
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(32)
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .no_proxy()
            .build()?;
        Ok(Sender {
            client,
            policy,
            user_agent: HeaderValue::from_str(user_agent).expect("validated at start-up"),
        })
    }

    pub async fn send(&self, request: Request<'_>) -> Response {
        let started = Instant::now();
        let url = match request.url {
            Some(url) if matches!(url.scheme(), "http" | "https") => url.clone(),
            _ => return Response::refused("refused: the URL is not an http or https URL".into()),
        };
        if let Err(refusal) = self
            .policy
            .check_port(&url)
            .and_then(|()| self.policy.check_literal(&url))
        {
            return Response::refused(refusal.0);
        }
        let timestamp = herald_proto::now_ms() / 1000;
        let Some(headers) = self.headers(&request, timestamp) else {
            return Response::refused(
                "refused: the delivery's ids cannot be sent as header values".into(),
            );
        };
        let result = self
            .client
            .post(url)
            .headers(headers)
            .timeout(request.timeout)
            .body(request.body)
            .send()
            .await;
        let mut response = match result {
            Ok(response) => response,
            Err(err) => {
                // A name that does not resolve and one that resolves only to refused
                // addresses are one failure, retried like a connection failure: the
                // customer must not learn which names exist inside Herald's network.
                let error = if is_unresolved(&err) {
                    UNRESOLVED.to_owned()
                } else {
                    describe(&err, request.timeout)
                };
                return Response::failed(error, elapsed_ms(started));
            }
        };
        let status = response.status();
        let retry_after_secs = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut excerpt = Vec::new();
        let mut body_error = None;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = EXCERPT_BYTES - excerpt.len();
                    excerpt.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if excerpt.len() >= EXCERPT_BYTES {
                        break;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    body_error = Some(describe(&err, request.timeout));
                    break;
                }
            }
        }
        let error = if !status.is_success() {
            Some(format!("HTTP {}", status.as_u16()))
        } else {
            body_error
        };
        Response {
            status_code: Some(status.as_u16()),
            duration_ms: elapsed_ms(started),
            error,
            excerpt: String::from_utf8_lossy(&excerpt).into_owned(),
            retry_after_secs,
            refused: false,
        }
    }

    /// What a listening session is sent instead of an HTTP request: the same
    /// headers and body, signed alike. `None` when the delivery's ids cannot be
    /// header values.
    pub fn listen_request(
        &self,
        request: Request<'_>,
    ) -> Option<herald_proto::listen::ListenRequest> {
        let timestamp = herald_proto::now_ms() / 1000;
        let headers = self.headers(&request, timestamp)?;
        let headers = headers
            .iter()
            .filter_map(|(name, value)| {
                Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
            })
            .collect();
        Some(herald_proto::listen::ListenRequest {
            headers,
            body: request.body.into(),
        })
    }

    /// The request's headers; `None` when an id that came with the task is not a
    /// valid header value.
    fn headers(&self, request: &Request<'_>, timestamp: i64) -> Option<HeaderMap> {
        let mut headers = HeaderMap::new();
        // Static headers first, so Herald's own always win.
        for (name, value) in request.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        let value = |s: &str| HeaderValue::from_str(s).ok();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, self.user_agent.clone());
        // The event id and the time go out twice: Standard Webhooks' names and the
        // `X-` ones.
        let msg_id = value(request.msg_id)?;
        let ts = HeaderValue::from(timestamp);
        headers.insert(http::WEBHOOK_ID, msg_id.clone());
        headers.insert(http::WEBHOOK_TIMESTAMP, ts.clone());
        headers.insert(
            http::WEBHOOK_SIGNATURE,
            value(&signing::standard_header(
                &request.secrets,
                request.msg_id,
                timestamp,
                &request.body,
            ))?,
        );
        if let Some(primary) = request.secrets.first() {
            headers.insert(
                http::X_WEBHOOK_SIGNATURE,
                value(&signing::hex_signature(primary, &request.body))?,
            );
        }
        headers.insert(http::X_WEBHOOK_ID, value(request.webhook_id)?);
        headers.insert(http::X_EVENT_ID, msg_id);
        headers.insert(http::X_TIMESTAMP, ts);
        if let Some(traceparent) = request
            .traceparent
            .and_then(|t| HeaderValue::from_str(t).ok())
        {
            headers.insert(TRACEPARENT, traceparent);
        }
        Some(headers)
    }
}

/// `Retry-After` as seconds from now: either delta-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<u32> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u32>() {
        return Some(seconds);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at
        .duration_since(std::time::SystemTime::now())
        .unwrap_or_default();
    Some(u32::try_from(wait.as_secs()).unwrap_or(u32::MAX))
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Words for the customer; never the client library's internals.
fn describe(err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        format!("timed out after {} ms", timeout.as_millis())
    } else if err.is_connect() {
        "connection failed".into()
    } else if err.is_body() || err.is_decode() {
        "the response body could not be read".into()
    } else {
        "the request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_retry_after;

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(parse_retry_after("120"), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        let later = httpdate::fmt_http_date(
            std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
        );
        let secs = parse_retry_after(&later).unwrap();
        assert!((3590..=3600).contains(&secs), "{secs}");
        assert_eq!(parse_retry_after("soon"), None);
    }
}
