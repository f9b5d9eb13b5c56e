//! The one publish helper against a real nats-server: it sets the message id and
//! the current span's trace context, and a failed publish comes back with the kind
//! a consumer branches on.

use async_nats::jetstream::{self, stream};
use herald_common::publish::{Publish, PublishErrorKind, publish, publish_unacked};
use herald_proto::names::header;
use herald_tests::NatsServer;
use opentelemetry::trace::TracerProvider as _;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PRODUCER_SPAN: &str = "00f067aa0ba902b7";

async fn stream_of(js: &jetstream::Context, name: &str, config: stream::Config) {
    js.create_stream(stream::Config {
        name: name.to_owned(),
        subjects: vec![format!("{}.>", name.to_lowercase())],
        ..config
    })
    .await
    .unwrap();
}

// One thread: the tracing subscriber below is the thread's default.
#[tokio::test(flavor = "current_thread")]
async fn the_helper_sets_the_message_id_and_the_current_trace() {
    let nats = NatsServer::start();
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    stream_of(&js, "T", stream::Config::default()).await;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let _default = tracing::subscriber::set_default(subscriber);

    let span = tracing::info_span!("handler", trace_id = tracing::field::Empty);
    herald_common::trace::adopt_pairs(
        &span,
        &[(
            header::TRACEPARENT,
            &format!("00-{TRACE}-{PRODUCER_SPAN}-01"),
        )],
    );
    let first = publish(&js, "t.a", "one".into(), Publish::once("evt_1"))
        .instrument(span.clone())
        .await
        .unwrap();
    assert!(!first.duplicate);
    // The same id again, with the ack awaited apart: stored once.
    let again = publish_unacked(&js, "t.a", "two".into(), Publish::once("evt_1"))
        .instrument(span)
        .await
        .unwrap()
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.sequence, first.sequence);

    let stored = js
        .get_stream("T")
        .await
        .unwrap()
        .get_last_raw_message_by_subject("t.a")
        .await
        .unwrap();
    assert_eq!(&stored.payload[..], b"one");
    let value = |name: &str| stored.headers.get(name).map(|v| v.as_str().to_owned());
    assert_eq!(value(header::MSG_ID).as_deref(), Some("evt_1"));
    let traceparent = value(header::TRACEPARENT).expect("a traceparent");
    assert!(
        traceparent.starts_with(&format!("00-{TRACE}-")),
        "{traceparent}"
    );
    // The handler's own span, a child of the producer's.
    assert!(!traceparent.contains(PRODUCER_SPAN), "{traceparent}");

    // A stored trace instead of the current one, and none at all.
    publish(
        &js,
        "t.b",
        "three".into(),
        Publish::once("evt_2").traceparent(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )),
    )
    .await
    .unwrap();
    publish(
        &js,
        "t.c",
        "four".into(),
        Publish::default().traceparent(None),
    )
    .await
    .unwrap();
    let stream = js.get_stream("T").await.unwrap();
    let b = stream.get_last_raw_message_by_subject("t.b").await.unwrap();
    assert_eq!(
        b.headers.get(header::TRACEPARENT).unwrap().as_str(),
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    );
    let c = stream.get_last_raw_message_by_subject("t.c").await.unwrap();
    assert!(c.headers.get(header::TRACEPARENT).is_none());
    assert!(c.headers.get(header::MSG_ID).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_says_whether_to_try_again_or_park() {
    let nats = NatsServer::start();
    let js = jetstream::new(async_nats::connect(nats.url()).await.unwrap());
    stream_of(
        &js,
        "SMALL",
        stream::Config {
            max_message_size: 1024,
            max_bytes: 4096,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        },
    )
    .await;

    // No stream captures the subject: "no responders", which is also what a
    // stream whose leader is being elected answers. Try again.
    let err = publish(&js, "nowhere.x", "x".into(), Publish::once("n1"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::Unavailable, "{err}");
    assert!(err.is_transient());

    // Larger than the stream takes: park.
    let err = publish(&js, "small.x", vec![0; 2048].into(), Publish::once("big"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PublishErrorKind::Rejected, "{err}");
    assert!(!err.is_transient());

    // The stream is at its byte limit and refuses new messages: try again later.
    let mut full = None;
    for n in 0..16 {
        let id = format!("m{n}");
        if let Err(err) = publish(&js, "small.x", vec![0; 900].into(), Publish::once(&id)).await {
            full = Some(err);
            break;
        }
    }
    let err = full.expect("the stream fills up");
    assert_eq!(err.kind(), PublishErrorKind::Full, "{err}");
    assert!(err.is_transient());
}
