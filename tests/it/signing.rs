//! Signatures as receivers check them: two `v1,` signatures at most while a
//! rotated-out secret is in its grace period.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use herald_tests::receiver::Received;
use herald_tests::verify::standard_webhooks;
use herald_tests::{Api, Herald, NatsServer, PATIENCE, Receiver};
use reqwest::StatusCode;
use serde_json::json;

async fn rotate(api: &Api, id: &str, secret: Option<&str>) -> String {
    let body = secret.map(|s| json!({ "secret": s }));
    let (status, reply) = api
        .call("POST", &format!("/v1/webhooks/{id}/rotate-secret"), body)
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
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
