//! The `url.full` of a delivery's client span carries neither the credentials nor
//! the query values of the webhook's URL: they are `REDACTED` in the exported
//! span, as the OpenTelemetry semantic conventions ask (a query part without `=`
//! may be a bare token, so it is redacted whole).

use herald_tests::otlp::Collector;
use herald_tests::{Herald, NatsServer, PATIENCE, Receiver, eventually};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exported_urls_hide_credentials_and_query_values() {
    let nats = NatsServer::start();
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    collector.export_from(&mut env);
    // The dispatcher as a process of its own: tracing is set up by `main`.
    let (herald, _dispatcher) = Herald::start_apart("dispatcher", &env, dir).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let address = receiver.url("").trim_start_matches("http://").to_owned();
    let url = format!(
        "http://hook-user:hook-pass@{address}/hooks/in?token=s3cr3t&sig=x9Sig%3D&bareToken7#frag-secret"
    );
    api.create_webhook(&url, &["job.*"]).await;
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "data": {}}),
    )
    .await;
    receiver.wait_for(1, PATIENCE).await;

    let full = eventually(PATIENCE, "the delivery's client span", || async {
        collector
            .spans()
            .into_iter()
            .find(|s| s.name == "POST")
            .and_then(|s| s.attribute("url.full").map(str::to_owned))
    })
    .await;
    assert_eq!(
        full,
        format!(
            "http://REDACTED:REDACTED@{address}/hooks/in?token=REDACTED&sig=REDACTED&REDACTED#REDACTED"
        )
    );
    for secret in [
        "hook-user",
        "hook-pass",
        "s3cr3t",
        "x9Sig",
        "bareToken7",
        "frag-secret",
    ] {
        assert!(
            collector
                .spans()
                .iter()
                .flat_map(|s| s.attributes.iter())
                .all(|(_, value)| !value.contains(secret)),
            "{secret} was exported"
        );
    }
}
