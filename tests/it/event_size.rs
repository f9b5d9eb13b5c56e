//! Herald on a nats-server with the stock `max_payload` (1 MB): it starts, says once
//! how large an event may be, accepts events up to that size (which still fit in
//! their delivery task and attempt record), and refuses larger ones: 413 over HTTP,
//! parked in `REJECTED` with the reason over NATS.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use herald_tests::nats::{ALL_CONSUMERS, wait_idle};
use herald_tests::receiver::Reply;
use herald_tests::{Herald, NatsServer, PATIENCE, Receiver};
use reqwest::StatusCode;
use serde_json::json;

/// The largest event on a stock server: 1 MiB of `max_payload` less the 64 KiB
/// Herald keeps for the task and attempt record around an event.
const STOCK_LIMIT: usize = (1 << 20) - (64 << 10);

/// A JSON event of exactly `size` bytes, with a callback whose headers take about
/// the most headers may (20 of them, 8 KiB in all), so its delivery task holds the
/// callback twice.
fn event_of(size: usize, callback_url: &str) -> Vec<u8> {
    let headers: serde_json::Map<String, serde_json::Value> = (0..20)
        .map(|n| (format!("X-H{n:02}"), json!("v".repeat(400))))
        .collect();
    let shell = json!({
        "event_type": "job.completed",
        "job_id": "job-big",
        "callback": {"url": callback_url, "headers": headers},
        "data": {"pad": ""},
    });
    let empty = serde_json::to_vec(&shell).unwrap().len();
    let mut event = shell;
    event["data"]["pad"] = json!("x".repeat(size - empty));
    let body = serde_json::to_vec(&event).unwrap();
    assert_eq!(body.len(), size);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_event_a_stock_server_allows_is_delivered_and_one_byte_more_is_413() {
    let nats = NatsServer::start_stock();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let callback = Receiver::start().await;
    // Failures with bodies longer than Herald keeps: each attempt record holds a
    // full excerpt beside the event.
    let long = Reply {
        status: 500,
        body: "e".repeat(8192),
        headers: Vec::new(),
    };
    for r in [&receiver, &callback] {
        r.reply_with(vec![long.clone(), long.clone()]);
    }
    api.create_webhook(&receiver.url("/"), &["job.*"]).await;

    let body = event_of(STOCK_LIMIT, &callback.url("/cb"));
    let (status, answer) = api
        .raw("POST", "/v1/events", "application/json", body.clone())
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    // Two failures, each recorded with the longest excerpt, then a success.
    let got = receiver.wait_for(3, PATIENCE).await;
    callback.wait_for(3, PATIENCE).await;
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(got[2].json()["data"], sent["data"]);
    wait_idle(&nats.url(), ALL_CONSUMERS).await;
    let event_id = answer["event_id"].as_str().unwrap();
    let (_, event) = api.get(&format!("/v1/events/{event_id}")).await;
    let deliveries = event["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{event}");
    for delivery in deliveries {
        assert_eq!(delivery["status"], "success", "{delivery}");
        assert_eq!(delivery["attempts"], 3, "{delivery}");
    }

    let (status, answer) = api
        .raw(
            "POST",
            "/v1/events",
            "application/json",
            event_of(STOCK_LIMIT + 1, &callback.url("/cb")),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["code"], "payload_too_large");
    let detail = answer["detail"].as_str().unwrap();
    assert!(detail.contains(&STOCK_LIMIT.to_string()), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_event_larger_than_the_limit_is_parked_with_the_reason() {
    let nats = NatsServer::start_stock();
    let _herald = Herald::start(&nats.url(), &[]).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    // As large as the server takes: more than an event may be.
    let max_payload = client.server_info().max_payload;
    let body = format!(r#"{{"data":{{"pad":"{}"}}}}"#, "x".repeat(max_payload - 64));
    let js = async_nats::jetstream::new(client);
    js.publish("ingest.acme.job.big", body.clone().into())
        .await
        .unwrap()
        .await
        .unwrap();

    let parked = herald_tests::nats::last_rejected(&js, "acme").await;
    let reason = parked
        .headers
        .get("Herald-Rejected-Reason")
        .unwrap()
        .as_str()
        .to_owned();
    assert!(reason.contains(&body.len().to_string()), "{reason}");
    assert!(reason.contains(&STOCK_LIMIT.to_string()), "{reason}");
    assert_eq!(
        parked
            .headers
            .get("Herald-Original-Subject")
            .unwrap()
            .as_str(),
        "ingest.acme.job.big"
    );
    // The parked copy is cut to fit beside its headers, and says so.
    assert!(parked.payload.len() < body.len());
    assert!(body.as_bytes().starts_with(&parked.payload));
    assert_eq!(
        parked.headers.get("Herald-Original-Size").unwrap().as_str(),
        body.len().to_string()
    );
    wait_idle(&nats.url(), &[("INGEST", "ingest")]).await;
}

#[test]
fn herald_starts_on_a_stock_server_and_logs_the_event_limit_once() {
    herald_common::telemetry::init_crypto();
    let nats = NatsServer::start_stock();
    let dir = tempfile::tempdir().unwrap();
    let env = Herald::test_env(&nats.url(), dir.path());
    let port = herald_tests::free_port();
    let mut command = Command::new(herald_tests::herald::binary());
    command
        .arg("all")
        .env_clear()
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (key, value) in &env.0 {
        command.env(key, value);
    }
    command.env("HERALD_HTTP_ADDR", format!("127.0.0.1:{port}"));
    let mut child = command.spawn().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let lines =
        std::thread::spawn(move || stdout.lines().map_while(Result::ok).collect::<Vec<_>>());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(herald_tests::herald::wait_ready(&format!(
        "http://127.0.0.1:{port}"
    )));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let lines = lines.join().unwrap();
    let limits: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("largest accepted event"))
        .collect();
    assert_eq!(limits.len(), 1, "{lines:#?}");
    assert!(
        limits[0].contains(&STOCK_LIMIT.to_string()),
        "{}",
        limits[0]
    );
    assert!(limits[0].contains("1048576"), "{}", limits[0]);
}
