//! A small client for Herald's REST API, as a customer would call it.

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    base: String,
    key: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: impl Into<String>, key: impl Into<String>) -> Self {
        herald_common::telemetry::init_crypto();
        Api {
            base: base.into(),
            key: key.into(),
            // A route that never answers fails the test instead of hanging it.
            http: reqwest::Client::builder()
                .timeout(crate::PATIENCE)
                .build()
                .expect("an HTTP client"),
        }
    }

    /// The same API with another key.
    pub fn with_key(&self, key: &str) -> Self {
        Api {
            key: key.to_owned(),
            ..self.clone()
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the API answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Sends raw bytes as the body, with the given content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the API answers");
        let status = response.status();
        let value = response.json().await.unwrap_or(Value::Null);
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call("POST", path, Some(body)).await
    }

    /// `GET path` until it answers 200 with a body `accept` takes something from, for
    /// at most [`PATIENCE`](crate::PATIENCE).
    pub async fn get_until<T>(
        &self,
        path: &str,
        what: &str,
        accept: impl Fn(&Value) -> Option<T>,
    ) -> T {
        crate::eventually(crate::PATIENCE, what, || async {
            let (status, body) = self.get(path).await;
            (status == StatusCode::OK).then_some(())?;
            accept(&body)
        })
        .await
    }

    /// `GET path` until it answers 200 with a body `accept` holds for, and that body.
    pub async fn get_when(&self, path: &str, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        self.get_until(path, what, |body| accept(body).then(|| body.clone()))
            .await
    }

    /// The newest delivery in a webhook's log that `accept` holds for, once there is
    /// one.
    pub async fn logged_delivery(
        &self,
        webhook_id: &str,
        what: &str,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let path = format!("/v1/webhooks/{webhook_id}/deliveries");
        self.get_until(&path, what, |body| {
            body["deliveries"]
                .as_array()?
                .iter()
                .find(|d| accept(d))
                .cloned()
        })
        .await
    }

    /// Rotates a webhook's secret with `body` as sent (none, `{}`, or
    /// `{"secret": ...}`) and returns the answer, with the new secret.
    pub async fn rotate_secret(&self, webhook_id: &str, body: Option<Value>) -> Value {
        let (status, reply) = self
            .call(
                "POST",
                &format!("/v1/webhooks/{webhook_id}/rotate-secret"),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
        reply
    }

    /// Creates a webhook and returns its JSON (with the secret).
    pub async fn create_webhook(&self, url: &str, events: &[&str]) -> Value {
        self.create_webhook_from(serde_json::json!({ "url": url, "events": events }))
            .await
    }

    /// Creates the webhook `definition` describes (settings beyond its URL and
    /// event types); returns the answer.
    pub async fn create_webhook_from(&self, definition: Value) -> Value {
        let (status, body) = self.post("/v1/webhooks", definition).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}

/// Asserts that an answer is the error `expected` with `code` and a detail.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

/// A delivery whose automatic retry is held: `retrying`, with a time for it.
pub fn is_retrying(delivery: &Value) -> bool {
    delivery["status"] == "retrying" && delivery["next_attempt_at"].is_string()
}

/// Reads Server-Sent Events from `response` until it ends, as (event, data) pairs.
pub fn sse_events(response: reqwest::Response) -> impl futures::Stream<Item = (String, Value)> {
    let state = (response.bytes_stream(), String::new());
    futures::stream::unfold(state, |(mut body, mut buffer)| async move {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                let (mut event, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                let value = serde_json::from_str(&data).unwrap_or(Value::String(data));
                return Some(((event, value), (body, buffer)));
            }
            let chunk = body.next().await?.ok()?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
}
