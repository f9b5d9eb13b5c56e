//! `POST /v1/webhooks/{id}/test` waits for the attempt as long as the webhook's
//! own timeout allows, and the route's time limit is above that: the answer is
//! always the attempt's outcome, never the API's time limit.

use std::time::Duration;

use herald_tests::{Herald, NatsServer, Receiver};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_delivery_may_take_the_webhooks_whole_timeout() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    // One receiver answers just before the webhook's 30 s timeout, one after it.
    let slow = Receiver::start().await;
    slow.delay(Duration::from_millis(29_000));
    let hung = Receiver::start().await;
    hung.delay(Duration::from_secs(45));
    let mut ids = Vec::new();
    for receiver in [&slow, &hung] {
        let (status, body) = api
            .post(
                "/v1/webhooks",
                json!({"url": receiver.url("/"), "events": ["job.*"], "timeout_ms": 30_000}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["webhook_id"].as_str().unwrap().to_owned());
    }
    let test = |id: String| {
        let api = api.clone();
        async move {
            api.call("POST", &format!("/v1/webhooks/{id}/test"), None)
                .await
        }
    };
    let ((slow_status, slow_body), (hung_status, hung_body)): ((StatusCode, Value), _) =
        tokio::join!(test(ids[0].clone()), test(ids[1].clone()));

    assert_eq!(slow_status, StatusCode::OK, "{slow_body}");
    assert_eq!(slow_body["success"], true, "{slow_body}");
    assert_eq!(slow_body["status_code"], 200, "{slow_body}");
    assert!(
        slow_body["response_time_ms"].as_i64().unwrap() >= 29_000,
        "{slow_body}"
    );

    assert_eq!(hung_status, StatusCode::OK, "{hung_body}");
    assert_eq!(hung_body["success"], false, "{hung_body}");
    assert!(
        hung_body["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out after 30000 ms")),
        "{hung_body}"
    );
    assert_eq!(slow.received().len(), 1);
    assert_eq!(hung.received().len(), 1);
}
