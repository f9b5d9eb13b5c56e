//! Bad input gets a clear 4xx with `{"code","detail"}`, and one tenant never sees
//! another's webhooks.

use herald_tests::herald::OTHER_API_KEY;
use herald_tests::{Herald, NatsServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["code"], code, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
}

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
        assert_error(
            status,
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
        );
        assert!(
            reply["detail"].as_str().unwrap().contains(mention),
            "{body} → {reply}"
        );
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
