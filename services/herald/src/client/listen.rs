//! `herald listen --forward-to <local url>`: opens a listening session for the
//! API key's tenant and forwards every delivery it receives to a local URL with
//! exactly the headers and body a webhook endpoint would get, so the receiver's
//! signature check runs unchanged. The local answer goes back to Herald and is
//! recorded as the attempt. This side makes the local request; Herald never dials
//! the developer's machine (see `docs/listen.md`).
//!
//! The requests stream is followed again after any error, with backoff; a session
//! that expired meanwhile is opened anew with the same secret and events. Ctrl-C
//! ends the session.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_common::config::Env;
use herald_model::ErrorBody;
use herald_model::listen::{CreateSession, CreatedSession, ForwardedRequest, ListenResult};
use herald_model::webhooks::{EventPatternText, RetryDelay};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{Client, Error, Outcome, Result};
use crate::cli::ListenArgs;

/// Bytes of the local answer's body sent back, as Herald keeps of an HTTP attempt.
const EXCERPT_BYTES: usize = 4096;
/// Local requests forwarded at once.
const MAX_IN_FLIGHT: usize = 16;
/// The server sends a comment every 15 s: this long without a byte means the
/// connection is dead.
const STREAM_IDLE: Duration = Duration::from_secs(45);
/// Backoff between attempts to follow the stream again.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Time limit of the calls to Herald besides the stream.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a local request may take; Herald's attempt gives up by then anyway.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest SSE frame kept while reading one.
const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// `herald listen`: listens until Ctrl-C, then ends the session.
pub async fn run(args: ListenArgs, env: &dyn Env) -> Result<Outcome> {
    let client = Client::new(&args.client, env)?;
    let forward_to = reqwest::Url::parse(&args.forward_to)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| Error::Invalid {
            what: "--forward-to",
            reason: format!("`{}` is not an http or https URL", args.forward_to),
        })?;
    let options = Options {
        url: client.base.as_str().trim_end_matches('/').to_owned(),
        api_key: client.key.clone(),
        forward_to,
        events: args.events,
        secret: args.secret,
        ttl: args.ttl,
        print: args.print,
        json: args.client.json,
    };
    let stop = CancellationToken::new();
    let ctrl_c = tokio::spawn({
        let stop = stop.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.cancel();
            }
        }
    });
    let listened = listen(options, stop).await;
    ctrl_c.abort();
    listened.map(|()| Outcome::Success)
}

/// What `herald listen` was asked.
#[derive(Debug, Clone)]
struct Options {
    /// Herald's base URL.
    url: String,
    api_key: String,
    /// Where each request goes.
    forward_to: reqwest::Url,
    /// Event types or patterns; every event when empty.
    events: Vec<String>,
    /// The signing secret; Herald makes one when `None`.
    secret: Option<String>,
    /// The session's life without this CLI (`60s`); the server's default when `None`.
    ttl: Option<String>,
    /// Print every request in full.
    print: bool,
    /// One JSON object per line instead of text.
    json: bool,
}

/// Listens until `stop` fires, then ends the session.
async fn listen(options: Options, stop: CancellationToken) -> Result<()> {
    let herald = Herald::new(&options)?;
    let mut session = herald.create(&options, options.secret.clone()).await?;
    let out = Output {
        json: options.json,
        print: options.print,
    };
    out.started(&session, &options);
    let local = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(LOCAL_TIMEOUT)
        .build()
        .map_err(|e| unreachable(options.forward_to.as_str(), &e))?;
    let forwarding = Arc::new(Forwarding {
        herald: herald.clone(),
        local,
        forward_to: options.forward_to.clone(),
        out,
        in_flight: Semaphore::new(MAX_IN_FLIGHT),
    });
    let mut backoff = FIRST_BACKOFF;
    loop {
        let id = session.session.session_id.to_string();
        let followed = tokio::select! {
            () = stop.cancelled() => break,
            followed = follow(&forwarding, &id, &stop) => followed,
        };
        match followed {
            Followed::Stopped => break,
            Followed::Gone => {
                // Expired while this CLI could not reach Herald: a new session, the
                // same secret, so the receiver's check keeps passing.
                match herald.create(&options, Some(session.secret.clone())).await {
                    Ok(renewed) => {
                        session = renewed;
                        out.note(&format!(
                            "the session had expired; listening again as {}",
                            session.session.session_id
                        ));
                        backoff = FIRST_BACKOFF;
                        continue;
                    }
                    Err(err) => out.note(&format!("cannot open a new session: {err}")),
                }
            }
            Followed::Lost(reason) => {
                if reason.is_some() {
                    out.note(&format!(
                        "lost the connection to Herald ({}); reconnecting",
                        reason.unwrap_or_default()
                    ));
                }
            }
            Followed::Connected => backoff = FIRST_BACKOFF,
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    let id = session.session.session_id.to_string();
    match herald.delete(&id).await {
        Ok(()) => out.note(&format!("session {id} ended")),
        Err(err) => out.note(&format!("cannot end session {id}: {err}")),
    }
    Ok(())
}

/// How following the stream ended.
enum Followed {
    /// `stop` fired.
    Stopped,
    /// The session is gone (404).
    Gone,
    /// The stream was open and then ended: follow again at once.
    Connected,
    /// It could not be opened, or broke: follow again after a pause.
    Lost(Option<String>),
}

/// Follows the session's requests until the stream ends, forwarding each.
async fn follow(forwarding: &Arc<Forwarding>, id: &str, stop: &CancellationToken) -> Followed {
    let response = match forwarding.herald.stream(id).await {
        Ok(response) => response,
        Err(Opened::Gone) => return Followed::Gone,
        Err(Opened::Failed(reason)) => return Followed::Lost(Some(reason)),
    };
    forwarding.out.ready();
    let mut body = response.bytes_stream();
    let mut buffer = String::new();
    loop {
        let chunk = tokio::select! {
            () = stop.cancelled() => return Followed::Stopped,
            chunk = tokio::time::timeout(STREAM_IDLE, body.next()) => chunk,
        };
        let chunk = match chunk {
            Err(_) => return Followed::Lost(Some("no sign of life".into())),
            Ok(None) => return Followed::Connected,
            Ok(Some(Err(err))) => return Followed::Lost(Some(describe(&err))),
            Ok(Some(Ok(chunk))) => chunk,
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        if buffer.len() > MAX_FRAME_BYTES {
            return Followed::Lost(Some("a frame too large".into()));
        }
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let (event, data) = parse_frame(&frame);
            match event.as_str() {
                "request" => match serde_json::from_str::<ForwardedRequest>(&data) {
                    Ok(request) => {
                        let forwarding = forwarding.clone();
                        let id = id.to_owned();
                        tokio::spawn(async move { forwarding.forward(&id, request).await });
                    }
                    Err(err) => forwarding
                        .out
                        .note(&format!("a request could not be read: {err}")),
                },
                // The server drains: follow again (perhaps another replica).
                "shutdown" => return Followed::Connected,
                _ => {}
            }
        }
    }
}

/// `(event, data)` of one Server-Sent Events frame; comments give empty ones.
fn parse_frame(frame: &str) -> (String, String) {
    let (mut event, mut data) = (String::new(), Vec::new());
    for line in frame.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            event = value.trim_start().to_owned();
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    (event, data.join("\n"))
}

/// Forwards requests to the local URL and hands the answers back.
struct Forwarding {
    herald: Herald,
    local: reqwest::Client,
    forward_to: reqwest::Url,
    out: Output,
    in_flight: Semaphore,
}

impl Forwarding {
    async fn forward(&self, session_id: &str, request: ForwardedRequest) {
        let Ok(_permit) = self.in_flight.acquire().await else {
            return;
        };
        self.out.request(&request);
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        let started = Instant::now();
        let answer = self
            .local
            .post(self.forward_to.clone())
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await;
        let (status, body, error) = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                (Some(status), excerpt(response).await, None)
            }
            Err(err) => (None, String::new(), Some(describe(&err))),
        };
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.out
            .answered(&request, status, duration_ms, error.as_deref());
        let result = ListenResult {
            token: request.token,
            status,
            duration_ms,
            body: Some(body),
            error,
        };
        if let Err(err) = self.herald.result(session_id, &result).await {
            // Herald's attempt times out and is retried: nothing is lost.
            self.out
                .note(&format!("cannot hand the answer back to Herald: {err}"));
        }
    }
}

/// The first [`EXCERPT_BYTES`] of a response's body.
async fn excerpt(mut response: reqwest::Response) -> String {
    let mut kept = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = EXCERPT_BYTES - kept.len();
        kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if kept.len() >= EXCERPT_BYTES {
            break;
        }
    }
    let text = String::from_utf8_lossy(&kept);
    herald_proto::cut(&text, EXCERPT_BYTES).to_owned()
}

/// A short description of a failed local or Herald request, without internals.
fn describe(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "timed out".into()
    } else if err.is_connect() {
        "connection refused or unreachable".into()
    } else if err.is_body() || err.is_decode() {
        "the body could not be read".into()
    } else {
        "the request failed".into()
    }
}

/// The calls to Herald's API.
#[derive(Clone)]
struct Herald {
    base: String,
    /// Calls that answer at once.
    client: reqwest::Client,
    /// The stream, which has no overall time limit.
    streaming: reqwest::Client,
}

/// Why the stream did not open.
enum Opened {
    Gone,
    Failed(String),
}

impl Herald {
    fn new(options: &Options) -> Result<Self> {
        let mut headers = HeaderMap::new();
        let mut bearer =
            HeaderValue::from_str(&format!("Bearer {}", options.api_key)).map_err(|_| {
                Error::Invalid {
                    what: "the API key (--api-key, HERALD_API_KEY)",
                    reason: "it cannot be sent as a header".into(),
                }
            })?;
        bearer.set_sensitive(true);
        headers.insert(AUTHORIZATION, bearer);
        let build = |timeout: Option<Duration>| {
            let mut builder = reqwest::Client::builder()
                .default_headers(headers.clone())
                .connect_timeout(Duration::from_secs(10));
            if let Some(timeout) = timeout {
                builder = builder.timeout(timeout);
            }
            builder.build().map_err(|e| unreachable(&options.url, &e))
        };
        Ok(Herald {
            base: options.url.trim_end_matches('/').to_owned(),
            client: build(Some(CALL_TIMEOUT))?,
            streaming: build(None)?,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn create(&self, options: &Options, secret: Option<String>) -> Result<CreatedSession> {
        let body = CreateSession {
            events: (!options.events.is_empty()).then(|| {
                options
                    .events
                    .iter()
                    .cloned()
                    .map(EventPatternText)
                    .collect()
            }),
            secret,
            ttl: options.ttl.clone().map(RetryDelay),
        };
        let url = self.url("/v1/listen/sessions");
        let response = self
            .client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        let response = refused(response).await?;
        let status = response.status().as_u16();
        response.json().await.map_err(|e| Error::Answer {
            url,
            status,
            reason: describe(&e),
        })
    }

    async fn stream(&self, id: &str) -> Result<reqwest::Response, Opened> {
        let response = self
            .streaming
            .get(self.url(&format!("/v1/listen/sessions/{id}/requests")))
            .header(ACCEPT, "text/event-stream")
            .send()
            .await
            .map_err(|err| Opened::Failed(describe(&err)))?;
        match response.status() {
            StatusCode::OK => Ok(response),
            StatusCode::NOT_FOUND => Err(Opened::Gone),
            status => Err(Opened::Failed(format!("HTTP {}", status.as_u16()))),
        }
    }

    async fn result(&self, id: &str, result: &ListenResult) -> Result<()> {
        let url = self.url(&format!("/v1/listen/sessions/{id}/results"));
        let response = self
            .client
            .post(&url)
            .json(result)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        refused(response).await.map(drop)
    }

    async fn delete(&self, id: &str) -> Result<()> {
        let url = self.url(&format!("/v1/listen/sessions/{id}"));
        let response = self
            .client
            .delete(&url)
            .send()
            .await
            .map_err(|e| unreachable(&url, &e))?;
        refused(response).await.map(drop)
    }
}

/// `response` when it succeeded; the API's `{code, detail}` as an error otherwise.
async fn refused(response: reqwest::Response) -> Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body: Option<ErrorBody> = response.json().await.ok();
    let (code, detail) = body.map_or_else(
        || ("unknown".to_owned(), "no error body".to_owned()),
        |b| (b.code, b.detail),
    );
    Err(Error::Api {
        status: status.as_u16(),
        code,
        detail,
    })
}

fn unreachable(url: &str, err: &reqwest::Error) -> Error {
    Error::Unreachable {
        url: url.to_owned(),
        reason: describe(err),
    }
}

/// What the CLI prints: text for people, or one JSON object per line.
#[derive(Debug, Clone, Copy)]
struct Output {
    json: bool,
    print: bool,
}

impl Output {
    fn line(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }

    fn started(&self, session: &CreatedSession, options: &Options) {
        if self.json {
            self.line(
                &json!({
                    "type": "session",
                    "session_id": session.session.session_id,
                    "secret": session.secret,
                    "events": session.session.events,
                    "expires_at": session.session.expires_at,
                    "forward_to": options.forward_to.as_str(),
                })
                .to_string(),
            );
        } else {
            self.line(&format!(
                "Listening session {} for {}\nSigning secret: {}\nForwarding to {} (Ctrl-C to stop)",
                session.session.session_id,
                session.session.events.join(", "),
                session.secret,
                options.forward_to
            ));
        }
    }

    /// The stream is open: deliveries reach the local URL from now on.
    fn ready(&self) {
        if self.json {
            self.line(&json!({"type": "ready"}).to_string());
        } else {
            eprintln!("Ready: following the session's requests");
        }
    }

    fn request(&self, request: &ForwardedRequest) {
        if !self.print {
            return;
        }
        if self.json {
            self.line(
                &json!({
                    "type": "request",
                    "method": request.method,
                    "headers": request.headers,
                    "body": request.body,
                })
                .to_string(),
            );
        } else {
            let mut text = format!("> {}", request.method);
            for (name, value) in &request.headers {
                text.push_str(&format!("\n> {name}: {value}"));
            }
            text.push_str(&format!("\n>\n{}", request.body));
            self.line(&text);
        }
    }

    fn answered(
        &self,
        request: &ForwardedRequest,
        status: Option<u16>,
        duration_ms: u64,
        error: Option<&str>,
    ) {
        let (event_type, event_id) = describe_request(request);
        let time = herald_proto::rfc3339(herald_proto::now_ms());
        if self.json {
            self.line(
                &json!({
                    "type": "delivery",
                    "time": time,
                    "event_type": event_type,
                    "event_id": event_id,
                    "status": status,
                    "duration_ms": duration_ms,
                    "error": error,
                })
                .to_string(),
            );
        } else {
            let status = status.map_or_else(
                || format!("failed: {}", error.unwrap_or("no answer")),
                |s| s.to_string(),
            );
            self.line(&format!(
                "{time}  {event_type}  {event_id}  {status}  {duration_ms} ms"
            ));
        }
    }

    fn note(&self, text: &str) {
        if self.json {
            self.line(&json!({"type": "note", "message": text}).to_string());
        } else {
            eprintln!("{text}");
        }
    }
}

/// The event's type and id: from the body's envelope when it has one, the id from
/// `webhook-id` otherwise.
fn describe_request(request: &ForwardedRequest) -> (String, String) {
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap_or_default();
    let headers: BTreeMap<String, &str> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    let event_type = body["event_type"]
        .as_str()
        .or(body["eventType"].as_str())
        .unwrap_or("-")
        .to_owned();
    let event_id = body["event_id"]
        .as_str()
        .or(body["eventId"].as_str())
        .or(headers
            .get(herald_proto::names::header::http::WEBHOOK_ID)
            .copied())
        .unwrap_or("-")
        .to_owned();
    (event_type, event_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_give_their_event_and_data() {
        assert_eq!(
            parse_frame("event: request\ndata: {\"a\":1}\n\n"),
            ("request".to_owned(), "{\"a\":1}".to_owned())
        );
        assert_eq!(parse_frame(":\n\n"), (String::new(), String::new()));
        assert_eq!(
            parse_frame("data: a\ndata: b\n\n"),
            (String::new(), "a\nb".to_owned())
        );
    }

    #[test]
    fn a_request_is_described_by_its_envelope() {
        let request = ForwardedRequest {
            token: String::new(),
            method: "POST".into(),
            headers: [("webhook-id".to_owned(), "evt_1".to_owned())].into(),
            body: r#"{"event_type":"job.done","event_id":"evt_1"}"#.into(),
        };
        assert_eq!(
            describe_request(&request),
            ("job.done".to_owned(), "evt_1".to_owned())
        );
    }
}
