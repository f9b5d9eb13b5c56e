//! Bad input gets a clear 4xx with `{"code","detail"}`, and one tenant never sees
//! another's webhooks.

use herald_tests::api::assert_error;
use herald_tests::herald::OTHER_API_KEY;
use herald_tests::{Herald, NatsServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_authenticated_and_tenants_isolated() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();

    let (status, body) = api.with_key("").get("/v1/webhooks").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");
    let (status, body) = api
        .with_key("wrong-key-0123456789")
        .get("/v1/webhooks")
        .await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "unauthorized");

    let webhook = api
        .create_webhook("https://example.com/hook", &["job.*"])
        .await;
    let id = webhook["webhook_id"].as_str().unwrap();
    let other = api.with_key(OTHER_API_KEY);
    for (method, path) in [
        ("GET", format!("/v1/webhooks/{id}")),
        ("DELETE", format!("/v1/webhooks/{id}")),
        ("GET", format!("/v1/webhooks/{id}/deliveries")),
    ] {
        let (status, body) = other.call(method, &path, None).await;
        assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = other.get("/v1/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["webhooks"], json!([]));

    // The owner sees it, changes it, and removes it.
    let (status, body) = api.get("/v1/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["webhooks"][0]["webhook_id"], id);
    assert!(
        body["webhooks"][0].get("secret").is_none(),
        "secrets are shown only at creation"
    );
    let (status, body) = api
        .call(
            "PUT",
            &format!("/v1/webhooks/{id}"),
            Some(json!({"events": ["training.>"], "description": "training"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["events"], json!(["training.>"]));
    assert_eq!(body["url"], "https://example.com/hook");
    let (status, _) = api
        .call("DELETE", &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.get(&format!("/v1/webhooks/{id}")).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_error() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();

    let cases = [
        (
            json!({"url": "ftp://x.example", "events": ["job.*"]}),
            "url",
        ),
        (json!({"url": "https://x.example", "events": []}), "events"),
        (
            json!({"url": "https://x.example", "events": ["job.>.x"]}),
            "events entry `job.>.x`",
        ),
        (
            json!({"url": "https://x.example", "events": ["a"], "secret": "short"}),
            "secret",
        ),
        (
            json!({"url": "https://x.example", "events": ["a"], "headers": {"webhook-signature": "x"}}),
            "headers",
        ),
        (json!({"url": "https://x.example"}), "events"),
    ];
    for (body, mention) in cases {
        let (status, reply) = api.post("/v1/webhooks", body.clone()).await;
        assert_invalid(&body.to_string(), status, &reply, mention);
    }

    let (status, body) = api
        .raw(
            "POST",
            "/v1/events",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body) = api
        .raw("POST", "/v1/events", "text/plain", b"{}".to_vec())
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    let (status, body) = api
        .post("/v1/events", json!({"event_type": "job.done"}))
        .await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    assert_eq!(body["detail"], "data is missing");

    let big = format!(
        r#"{{"event_type":"job.done","data":"{}"}}"#,
        "x".repeat(1024 * 1024 + 1)
    );
    let (status, body) = api
        .raw("POST", "/v1/events", "application/json", big.into_bytes())
        .await;
    assert_error(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );

    let (status, body) = api.get("/v1/nothing-here").await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = api
        .get("/v1/webhooks/wh_missing/deliveries?limit=1000")
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");
}

/// A 422 `validation` refusal whose detail names `mention`.
fn assert_invalid(what: &str, status: StatusCode, reply: &Value, mention: &str) {
    assert_error(
        status,
        reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    assert!(
        reply["detail"].as_str().unwrap().contains(mention),
        "{what} → {reply}"
    );
}

/// One request with a deadline: a route that never answers fails the test instead
/// of hanging it. The body is read only when it is not a live stream.
async fn answer(
    method: &str,
    url: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, String, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method.clone(), url)
        .bearer_auth(key)
        .timeout(std::time::Duration::from_secs(15));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url} got no answer: {e}"));
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if content_type.starts_with("text/event-stream") {
        return (status, content_type, Value::Null);
    }
    let text = response.text().await.unwrap_or_default();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, value)
}

/// A 4xx with `{"code","detail"}` as JSON, and a detail of sane length however long
/// the input was.
fn assert_json_refusal(what: &str, status: StatusCode, content_type: &str, body: &Value) {
    assert!(status.is_client_error(), "{what}: {status} {body}");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: {status} {content_type} {body}"
    );
    assert!(
        body["code"].as_str().is_some_and(|c| !c.is_empty()),
        "{what}: {body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.is_empty() && detail.len() < 1024, "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_ids_in_every_route_are_not_found() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let webhook = api
        .create_webhook("https://example.com/hook", &["job.*"])
        .await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    let key = herald_tests::herald::API_KEY;

    let long = "a".repeat(5000);
    let malformed = [
        "wh_...", ".wh_1", "wh_1.", "wh..1", "%FF", "a%20b", "a%2Fb", "a*b", "a%3Eb", &long,
    ];
    // Every route with an id, the id's place marked `{}`.
    let routes: [(&str, &str, Option<Value>); 16] = [
        ("GET", "/v1/webhooks/{}", None),
        ("PUT", "/v1/webhooks/{}", Some(json!({"description": "x"}))),
        ("DELETE", "/v1/webhooks/{}", None),
        ("GET", "/v1/webhooks/{}/deliveries?limit=50", None),
        ("GET", "/v1/webhooks/{}/stats?window=24h", None),
        ("POST", "/v1/webhooks/{}/rotate-secret", None),
        ("POST", "/v1/webhooks/{}/test", None),
        ("POST", "/v1/webhooks/{}/enable", None),
        (
            "POST",
            "/v1/webhooks/{}/recover",
            Some(json!({"since": "2026-01-01T00:00:00Z"})),
        ),
        ("POST", "/v1/webhooks/{}/deliveries/dlv_1/retry", None),
        ("POST", "/v1/webhooks/WH/deliveries/{}/retry", None),
        ("GET", "/v1/deliveries/{}", None),
        ("GET", "/v1/events/{}", None),
        ("GET", "/v1/jobs/{}", None),
        ("GET", "/v1/jobs/{}/stream", None),
        ("GET", "/v1/webhooks/{}/deliveries", None),
    ];
    for (method, template, body) in &routes {
        for bad in malformed {
            let path = template.replace("WH", &id).replace("{}", bad);
            let url = format!("{}{path}", herald.base_url);
            let (status, content_type, reply) = answer(method, &url, key, body.clone()).await;
            let what = format!("{method} {}", &path[..path.len().min(80)]);
            assert_json_refusal(&what, status, &content_type, &reply);
            assert!(
                status == StatusCode::NOT_FOUND || status == StatusCode::UNPROCESSABLE_ENTITY,
                "{what}: {status} {reply}"
            );
        }
    }
    // An unauthenticated request is still 401, malformed id or not.
    let url = format!("{}/v1/webhooks/wh_...", herald.base_url);
    let (status, _, reply) = answer("GET", &url, "wrong-key-0123456789", None).await;
    assert_error(status, &reply, StatusCode::UNAUTHORIZED, "unauthorized");

    // None of it hurt: the webhook is there and events are still accepted.
    let (status, body) = api.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api
        .post("/v1/events", json!({"event_type": "job.done", "data": {}}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_string_errors_are_json() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let webhook = api
        .create_webhook("https://example.com/hook", &["job.*"])
        .await;
    let id = webhook["webhook_id"].as_str().unwrap();
    let key = herald_tests::herald::API_KEY;
    let cases = [
        (format!("/v1/webhooks/{id}/deliveries?limit=-1"), "limit"),
        (format!("/v1/webhooks/{id}/deliveries?limit=abc"), "limit"),
        (
            format!("/v1/webhooks/{id}/deliveries?limit=99999999999999999999"),
            "limit",
        ),
        (
            format!("/v1/webhooks/{id}/deliveries?limit=1&limit=2"),
            "limit",
        ),
        (format!("/v1/webhooks/{id}/deliveries?foo=1"), "foo"),
        (
            format!("/v1/webhooks/{id}/deliveries?since=yesterday"),
            "since",
        ),
        (format!("/v1/webhooks/{id}/stats?window=abc"), "window"),
        (format!("/v1/webhooks/{id}/stats?windw=24h"), "windw"),
        ("/v1/stream?evnts=job.*".to_owned(), "evnts"),
        ("/v1/stream?events=job..x".to_owned(), "job..x"),
    ];
    for (path, mention) in cases {
        let url = format!("{}{path}", herald.base_url);
        let (status, content_type, reply) = answer("GET", &url, key, None).await;
        assert_json_refusal(&path, status, &content_type, &reply);
        assert_invalid(&path, status, &reply, mention);
    }
    // A method a route does not have is refused the same way.
    let url = format!("{}/v1/webhooks/{id}", herald.base_url);
    let (status, content_type, reply) = answer("PATCH", &url, key, None).await;
    assert_json_refusal("PATCH", status, &content_type, &reply);
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_fields_of_an_event_are_refused() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.done", "jobid": "job_1", "data": {}}),
        )
        .await;
    assert_invalid("an unknown field", status, &body, "`jobid`");
    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.done", "job_id": "job_1", "data": {"jobid": 1}}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "data is the producer's own: {body}"
    );
}

/// `data` nested `depth` levels deep: `[[[...]]]`.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_and_nesting_are_bounded() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let webhook =
        |headers: Value| json!({"url": "https://x.example", "events": ["a"], "headers": headers});
    let big = "v".repeat(100 * 1024);
    let refused = [
        json!({"X-Big": big}),
        json!({"X-Long-Value": "v".repeat(4097)}),
        json!({"X-".to_owned() + &"n".repeat(300): "v"}),
        json!({"X-A": "v".repeat(3000), "X-B": "v".repeat(3000), "X-C": "v".repeat(3000)}),
        json!({"X-Same": "a", "x-same": "b"}),
    ];
    for headers in refused {
        let (status, reply) = api.post("/v1/webhooks", webhook(headers.clone())).await;
        let brief: String = reply.to_string().chars().take(300).collect();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{brief}");
        assert_invalid("webhook headers", status, &reply, "headers");
    }
    let (status, reply) = api
        .post("/v1/webhooks", webhook(json!({"X-Fits": "v".repeat(4096)})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let id = reply["webhook_id"].as_str().unwrap();
    let (status, reply) = api
        .call(
            "PUT",
            &format!("/v1/webhooks/{id}"),
            Some(json!({"headers": {"X-Big": big}})),
        )
        .await;
    assert_error(
        status,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );

    // A job callback's headers have the same bounds.
    let (status, reply) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.done", "job_id": "job_1", "data": {},
                   "callback": {"url": "https://x.example/cb", "headers": {"X-Big": big}}}),
        )
        .await;
    assert_invalid("callback headers", status, &reply, "callback.headers");

    // `data` may nest 64 levels, not more.
    let event = |data: &str| format!(r#"{{"event_type":"job.done","data":{data}}}"#).into_bytes();
    for (depth, expected) in [
        (64, StatusCode::ACCEPTED),
        (65, StatusCode::UNPROCESSABLE_ENTITY),
        (100_000, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (status, reply) = api
            .raw(
                "POST",
                "/v1/events",
                "application/json",
                event(&nested(depth)),
            )
            .await;
        assert_eq!(status, expected, "depth {depth}: {reply}");
        if status != StatusCode::ACCEPTED {
            assert!(
                reply["detail"].as_str().unwrap().contains("64 levels"),
                "{reply}"
            );
        }
    }
    let deep_object = format!(r#"{{"a":{}"x"{}}}"#, r#"{"a":"#.repeat(64), "}".repeat(64));
    let (status, reply) = api
        .raw(
            "POST",
            "/v1/events",
            "application/json",
            event(&deep_object),
        )
        .await;
    assert_error(
        status,
        &reply,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation",
    );
    // Brackets inside strings are text, not nesting.
    let text = format!(r#"{{"text":"{}"}}"#, "[{".repeat(1000));
    let (status, reply) = api
        .raw("POST", "/v1/events", "application/json", event(&text))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_and_times_out_of_range_are_refused() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let key = herald_tests::herald::API_KEY;
    let webhook = api
        .create_webhook("https://example.com/hook", &["job.*"])
        .await;
    let id = webhook["webhook_id"].as_str().unwrap();

    let out_of_range = [
        "100000000000000000d",
        "213503982334601d",
        "18446744073709551615s",
        "18446744073709551616ms",
        "99999999999999999999h",
        "0s",
        "91d",
        "-1m",
        "1.5h",
    ];
    for delay in out_of_range {
        let body = json!({"url": "https://x.example", "events": ["a"], "retry_schedule": [delay]});
        let url = format!("{}/v1/webhooks", herald.base_url);
        let (status, content_type, reply) = answer("POST", &url, key, Some(body)).await;
        assert_json_refusal(delay, status, &content_type, &reply);
        assert_invalid(delay, status, &reply, "retry_schedule");

        let url = format!("{}/v1/webhooks/{id}/stats?window={delay}", herald.base_url);
        let (status, content_type, reply) = answer("GET", &url, key, None).await;
        assert_json_refusal(delay, status, &content_type, &reply);
        assert_invalid(delay, status, &reply, "window");
    }
    let url = format!("{}/v1/webhooks/{id}/stats?window=90d", herald.base_url);
    assert_eq!(answer("GET", &url, key, None).await.0, StatusCode::OK);
    for (delay, expected) in [
        ("8d", StatusCode::UNPROCESSABLE_ENTITY),
        ("7d", StatusCode::CREATED),
    ] {
        let body = json!({"url": "https://x.example", "events": ["a"], "retry_schedule": [delay]});
        assert_eq!(api.post("/v1/webhooks", body).await.0, expected, "{delay}");
    }

    for timestamp in ["0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"] {
        let (status, reply) = api
            .post(
                "/v1/events",
                json!({"event_type": "job.done", "timestamp": timestamp, "data": {}}),
            )
            .await;
        assert_invalid(timestamp, status, &reply, "timestamp");
    }
    let (status, reply) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.done", "timestamp": "9999-12-31T23:59:59.999Z", "data": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
}
