//! One trace per event: a producer's `traceparent` on a NATS message becomes the
//! parent of spans from all four services, correctly parented, and the receiver gets
//! a `traceparent` of that same trace.

use std::collections::HashSet;

use herald_tests::PATIENCE;
use herald_tests::herald::Process;
use herald_tests::otlp::Collector;
use herald_tests::{Api, Herald, NatsServer, Receiver, eventually};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PRODUCER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_is_one_trace_across_every_service() {
    let nats = NatsServer::start();
    let collector = Collector::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    collector.export_from(&mut env);
    env.set("HERALD_RETRY_SCHEDULE", "1s");
    let mut processes = Vec::new();
    for service in ["status-tracker", "retry-scheduler", "dispatcher"] {
        processes.push(Process::spawn(service, &env));
    }
    let (ingest, addr) = Process::spawn_listening("ingest", &env);
    processes.push(ingest);
    let base = format!("http://{addr}");
    herald_tests::herald::wait_ready(&base).await;
    let api = Api::new(base, herald_tests::herald::API_KEY);

    // The receiver fails once, so the retry-scheduler takes part too.
    let receiver = Receiver::start().await;
    receiver.respond_with(&[500]);
    api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut headers = async_nats::HeaderMap::new();
    headers.insert(
        "traceparent",
        format!("00-{TRACE}-{PRODUCER_SPAN}-01").as_str(),
    );
    client
        .publish_with_headers(
            "ingest.acme.job.completed",
            headers,
            r#"{"data":{"n":1}}"#.into(),
        )
        .await
        .unwrap();
    client.flush().await.unwrap();

    let received = receiver.wait_for(2, PATIENCE).await;
    for request in &received {
        let traceparent = request
            .header("traceparent")
            .expect("the receiver gets a traceparent");
        assert!(
            traceparent.starts_with(&format!("00-{TRACE}-")),
            "{traceparent}"
        );
    }

    let wanted = [
        "herald-ingest",
        "herald-dispatcher",
        "herald-retry-scheduler",
        "herald-status-tracker",
    ];
    let spans = eventually(
        PATIENCE,
        "spans from all four services, each with its parent",
        || async {
            let spans: Vec<_> = collector
                .spans()
                .into_iter()
                .filter(|s| s.trace_id == TRACE)
                .collect();
            let services: HashSet<&str> = spans.iter().map(|s| s.service.as_str()).collect();
            let names: HashSet<&str> = spans.iter().map(|s| s.name.as_str()).collect();
            // A parent ends after its children, so it may come in a later export.
            let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
            let parents_arrived = spans.iter().all(|s| {
                s.parent_span_id == PRODUCER_SPAN || ids.contains(s.parent_span_id.as_str())
            });
            (parents_arrived
                && wanted.iter().all(|w| services.contains(w))
                && [
                    "ingest.accept",
                    "dispatcher.fanout",
                    "dispatcher.deliver",
                    "POST",
                    "retry.schedule",
                    "status.record",
                ]
                .iter()
                .all(|n| names.contains(n))
                && spans.iter().any(|s| {
                    s.name == "POST" && s.attribute("http.response.status_code") == Some("200")
                }))
            .then_some(spans)
        },
    )
    .await;

    // Correctly parented: the producer's span is the root; every other span's parent
    // is a span of this trace.
    let ids: HashSet<&str> = spans.iter().map(|s| s.span_id.as_str()).collect();
    for span in &spans {
        if span.name == "ingest.accept" {
            assert_eq!(span.parent_span_id, PRODUCER_SPAN, "{span:?}");
        } else {
            assert!(
                ids.contains(span.parent_span_id.as_str()),
                "orphan span {span:?}"
            );
        }
    }
    let parent_name = |span: &herald_tests::otlp::Span| {
        spans
            .iter()
            .find(|s| s.span_id == span.parent_span_id)
            .map(|s| s.name.clone())
    };
    let fanout = spans
        .iter()
        .find(|s| s.name == "dispatcher.fanout")
        .unwrap();
    assert_eq!(parent_name(fanout).as_deref(), Some("ingest.accept"));
    let post = spans.iter().find(|s| s.name == "POST").unwrap();
    assert_eq!(parent_name(post).as_deref(), Some("dispatcher.deliver"));
    assert_eq!(post.attribute("http.request.method"), Some("POST"));
    assert!(
        post.attribute("url.full")
            .is_some_and(|u| u.starts_with("http://127.0.0.1"))
    );
    assert!(
        spans
            .iter()
            .any(|s| s.name == "POST" && s.attribute("http.response.status_code") == Some("200"))
    );
    // Attributes carry tenant, event, webhook and attempt.
    let deliver = spans
        .iter()
        .find(|s| s.name == "dispatcher.deliver")
        .unwrap();
    for key in ["tenant", "event_id", "webhook_id", "attempt"] {
        assert!(deliver.attribute(key).is_some(), "{key} on {deliver:?}");
    }
    // The retry joined the same trace.
    let attempts: HashSet<&str> = spans
        .iter()
        .filter(|s| s.name == "dispatcher.deliver")
        .filter_map(|s| s.attribute("attempt"))
        .collect();
    assert!(
        attempts.contains("1") && attempts.contains("2"),
        "{attempts:?}"
    );
    drop(processes);
}
