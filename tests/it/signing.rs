//! Signatures as receivers check them: two `v1,` signatures at most while a
//! rotated-out secret is in its grace period, and README's examples for the
//! Standard Webhooks libraries (PyPI and npm), run as printed against real
//! deliveries, with a generated `whsec_` secret and with a plain-string one.

use std::path::PathBuf;
use std::process::Command;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_tests::receiver::Received;
use herald_tests::verify::standard_webhooks;
use herald_tests::{Api, Herald, NatsServer, PATIENCE, Receiver, workspace_root};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Rotates to `secret` (to a generated one when none) and returns the new secret.
async fn rotate(api: &Api, id: &str, secret: Option<&str>) -> String {
    let body = secret.map(|s| json!({ "secret": s }));
    let reply = api.rotate_secret(id, body).await;
    reply["secret"].as_str().unwrap().to_owned()
}

async fn test_delivery(api: &Api, id: &str) {
    let (status, reply) = api
        .call("POST", &format!("/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["success"], true, "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rotations_within_the_grace_period_sign_twice() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap();
    let first = webhook["secret"].as_str().unwrap().to_owned();

    let second = rotate(&api, id, None).await;
    test_delivery(&api, id).await;
    let third = rotate(&api, id, Some("plain-string-secret-0123456789")).await;
    test_delivery(&api, id).await;

    let received = receiver.wait_for(2, PATIENCE).await;
    let signatures = |r: &Received| {
        r.header("webhook-signature")
            .unwrap()
            .matches("v1,")
            .count()
    };
    assert_eq!(signatures(&received[0]), 2);
    assert!(standard_webhooks(&first, &received[0]));
    assert!(standard_webhooks(&second, &received[0]));

    assert_eq!(signatures(&received[1]), 2, "README promises two");
    assert!(standard_webhooks(&second, &received[1]));
    assert!(
        standard_webhooks(&plain_as_whsec(&third), &received[1]),
        "the newest secret signs"
    );
    assert!(
        !standard_webhooks(&first, &received[1]),
        "a rotation ends the grace of the secret rotated out before"
    );
}

/// A plain-string secret as a Standard Webhooks key: `whsec_` + base64 of its bytes.
fn plain_as_whsec(secret: &str) -> String {
    format!("whsec_{}", STANDARD.encode(secret.as_bytes()))
}

/// `.tools/receivers`, where `make receiver-libs` installs the libraries.
pub(crate) fn receiver_tools() -> PathBuf {
    let tools = workspace_root().join(".tools/receivers");
    assert!(
        tools.join("py/standardwebhooks").is_dir()
            && tools.join("node/node_modules/standardwebhooks").is_dir(),
        "the Standard Webhooks libraries are not installed: run `make receiver-libs`"
    );
    tools
}

/// One case for tests/receivers/check.{py,js}.
pub(crate) fn case(
    name: &str,
    secret: &str,
    request: &Received,
    body: &[u8],
    valid: bool,
) -> Value {
    let headers: serde_json::Map<String, Value> = request
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                Value::String(value.to_str().unwrap().to_owned()),
            )
        })
        .collect();
    json!({
        "name": name,
        "secret": secret,
        "body": STANDARD.encode(body),
        "headers": headers,
        "valid": valid,
    })
}

pub(crate) fn run_check(mut command: Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run the {what} check: {e}"));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what} check failed:\n{report}");
    assert!(report.contains("ok "), "{what} checked nothing:\n{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_libraries_verify_deliveries_as_readme_shows() {
    let tools = receiver_tools();
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let plain = "plain-string-secret-0123456789!";
    let generated = api
        .create_webhook(&receiver.url("/generated"), &["job.*"])
        .await;
    let (status, given) = api
        .post(
            "/v1/webhooks",
            json!({"url": receiver.url("/plain"), "events": ["job.*"], "secret": plain}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{given}");
    // Rotated from a generated secret to a plain string: signed with both.
    let rotated = api
        .create_webhook(&receiver.url("/rotated"), &["job.*"])
        .await;
    let rotated_plain = "another-plain-secret-ABCDEFGH";
    rotate(
        &api,
        rotated["webhook_id"].as_str().unwrap(),
        Some(rotated_plain),
    )
    .await;

    let (status, reply) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.completed", "job_id": "job_1",
                   "data": {"text": "café ü ✓", "n": 8.0, "big": 1152921504606846976u64}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let received = receiver.wait_for(3, PATIENCE).await;
    let by_path = |path: &str| received.iter().find(|r| r.path == path).unwrap().clone();
    let generated_secret = generated["secret"].as_str().unwrap();
    let mut cases = Vec::new();
    for (path, secret, wrong) in [
        ("/generated", generated_secret, plain),
        ("/plain", plain, generated_secret),
        ("/rotated", rotated_plain, plain),
    ] {
        let request = by_path(path);
        let body = request.body.to_vec();
        cases.push(case(path, secret, &request, &body, true));
        cases.push(case(
            &format!("{path} wrong secret"),
            wrong,
            &request,
            &body,
            false,
        ));
        let mut tampered = body.clone();
        tampered.extend_from_slice(b" ");
        cases.push(case(
            &format!("{path} tampered body"),
            secret,
            &request,
            &tampered,
            false,
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let cases_file = dir.path().join("cases.json");
    std::fs::write(&cases_file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let readme = workspace_root().join("README.md");
    let scripts = workspace_root().join("tests/receivers");

    let mut python = Command::new("python3");
    python
        .arg(scripts.join("check.py"))
        .arg(&readme)
        .arg(&cases_file)
        .env("PYTHONPATH", tools.join("py"));
    run_check(python, "Python");
    let mut node = Command::new("node");
    node.arg(scripts.join("check.js"))
        .arg(&readme)
        .arg(&cases_file)
        .env("NODE_PATH", tools.join("node/node_modules"));
    run_check(node, "Node");
}
