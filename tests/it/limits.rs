//! What one tenant may hold or ask of ingest is bounded: webhooks per tenant, live
//! streams per tenant and patterns per stream, requests per second per key; a live
//! stream whose client does not read is closed instead of growing ingest's memory;
//! and draining ends every live stream at once.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_tests::api::assert_error;
use herald_tests::herald::{API_KEY, OTHER_API_KEY, Process};
use herald_tests::{Herald, NatsServer, PATIENCE, eventually, procfs};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The comment a live stream ends with when its client fell a whole buffer behind.
const FELL_BEHIND: &str = ": closed: the client did not keep up\n\n";

fn webhook(n: usize) -> Value {
    json!({"url": format!("https://example.com/hook/{n}"), "events": ["job.*"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_may_have_only_so_many_webhooks() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_MAX_WEBHOOKS_PER_TENANT", "3")]).await;
    let api = herald.api();

    // Five at once: exactly three pass the cap of 3.
    let creates = (0..5).map(|n| {
        let api = api.clone();
        async move { api.post("/v1/webhooks", webhook(n)).await }
    });
    let answers = futures::future::join_all(creates).await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == StatusCode::CREATED)
        .map(|(_, body)| body)
        .collect();
    let refused: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status != StatusCode::CREATED)
        .map(|(_, body)| body)
        .collect();
    println!(
        "5 concurrent creates with a cap of 3: {} created, {} refused",
        created.len(),
        refused.len()
    );
    assert_eq!(created.len(), 3, "{answers:?}");
    let (status, body) = api.post("/v1/webhooks", webhook(5)).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "limit_exceeded",
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("HERALD_MAX_WEBHOOKS_PER_TENANT"),
        "{body}"
    );
    for body in refused {
        assert_eq!(body["code"], "limit_exceeded", "{body}");
    }

    // Another tenant has a cap of its own.
    let (status, body) = api
        .with_key(OTHER_API_KEY)
        .post("/v1/webhooks", webhook(6))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Deleting one makes room for one.
    let id = created[0]["webhook_id"].as_str().unwrap();
    let (status, _) = api
        .call("DELETE", &format!("/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = api.post("/v1/webhooks", webhook(7)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = api.post("/v1/webhooks", webhook(8)).await;
    assert_error(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "limit_exceeded",
    );
}

/// Opens a live stream as a customer would, without reading it.
async fn open(base: &str, key: &str, path: &str) -> (StatusCode, reqwest::Response) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .expect("ingest answers");
    (response.status(), response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_are_limited_per_request_and_per_tenant() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_STREAM_MAX_PER_TENANT", "2")]).await;
    let base = herald.base_url.as_str();

    let patterns = |n: usize| {
        let list: Vec<String> = (0..n).map(|i| format!("job.step{i}")).collect();
        format!("/v1/stream?events={}", list.join(","))
    };
    let (status, response) = open(base, API_KEY, &patterns(21)).await;
    let body: Value = response.json().await.unwrap();
    println!("21 patterns: {status} {body}");
    assert_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "limit_exceeded",
    );
    let (status, twenty) = open(base, API_KEY, &patterns(20)).await;
    assert_eq!(status, StatusCode::OK);
    drop(twenty);

    // A job's stream needs a job Herald knows of.
    let api = herald.api();
    let (status, _) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.started", "job_id": "job_1", "data": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.get_until("/v1/jobs/job_1", "job_1 to be recorded", |_| Some(()))
        .await;

    // Both kinds of stream count. The twenty-pattern stream may still be going
    // away, so the second waits for its place.
    let (status, events) = open(base, API_KEY, "/v1/stream?events=job.*").await;
    assert_eq!(status, StatusCode::OK);
    let job = eventually(PATIENCE, "a second stream to open", || async {
        let (status, response) = open(base, API_KEY, "/v1/jobs/job_1/stream").await;
        (status == StatusCode::OK).then_some(response)
    })
    .await;
    for path in ["/v1/stream", "/v1/jobs/job_2/stream"] {
        let (status, response) = open(base, API_KEY, path).await;
        let body: Value = response.json().await.unwrap();
        println!("a third stream ({path}): {status} {body}");
        assert_error(
            status,
            &body,
            StatusCode::TOO_MANY_REQUESTS,
            "limit_exceeded",
        );
    }
    let (status, _other) = open(base, OTHER_API_KEY, "/v1/stream").await;
    assert_eq!(status, StatusCode::OK, "another tenant is not affected");

    // A client that goes away gives its place back.
    drop(events);
    let started = Instant::now();
    let _again = eventually(PATIENCE, "a stream to open after one closed", || async {
        let (status, response) = open(base, API_KEY, "/v1/stream").await;
        (status == StatusCode::OK).then_some(response)
    })
    .await;
    println!(
        "a place came back {:?} after its client went away",
        started.elapsed()
    );
    drop(job);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_api_key_is_rate_limited() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_API_RATE_LIMIT", "5")]).await;
    let http = reqwest::Client::new();
    let get = |key: &'static str| {
        http.get(format!("{}/v1/webhooks", herald.base_url))
            .bearer_auth(key)
            .send()
    };

    let mut passed = 0;
    let mut limited = None;
    for _ in 0..20 {
        let response = get(API_KEY).await.unwrap();
        match response.status() {
            StatusCode::OK => passed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                let retry_after: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                let body: Value = response.json().await.unwrap();
                limited.get_or_insert((retry_after, body));
            }
            other => panic!("unexpected {other}"),
        }
    }
    let (retry_after, body) = limited.expect("a burst of 20 at 5 per second is limited");
    println!(
        "20 requests at once, 5 per second allowed: {passed} passed; then {body}, Retry-After: {retry_after}"
    );
    assert!(passed >= 5, "the burst is as large as the rate");
    assert!(passed < 20);
    assert_error(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    assert!(retry_after >= 1);

    let response = get(OTHER_API_KEY).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "another key is not affected"
    );
    let response = get("unknown-key-0123456789").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The wait is the behaviour under test.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let response = get(API_KEY).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "after Retry-After");
}

/// `herald ingest` alone, as a process of its own on a port the test knows.
async fn ingest_process(
    nats: &NatsServer,
    overrides: &[(&str, &str)],
) -> (Process, SocketAddr, tempfile::TempDir) {
    herald_common::telemetry::init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    for (key, value) in overrides {
        env.set(*key, *value);
    }
    let (process, addr) = Process::spawn_listening("ingest", &env);
    herald_tests::herald::wait_ready(&format!("http://{addr}")).await;
    (process, addr, dir)
}

/// A client that asks for `/v1/stream`, reads the response head, and then reads
/// nothing more. Its receive buffer is small, so ingest soon cannot write to it.
async fn open_and_stop_reading(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let request = format!(
        "GET /v1/stream?events=%3E HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {API_KEY}\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut read = Vec::new();
    while !read.windows(4).any(|w| w == b"\r\n\r\n") {
        let mut chunk = [0u8; 256];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "ingest closed the connection");
        read.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&read).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    (stream, read)
}

/// Reads the rest of a chunked response, up to its last chunk.
async fn read_to_end_of_response(stream: &mut TcpStream, read: &mut Vec<u8>) {
    let mut chunk = vec![0u8; 64 * 1024];
    while !read.ends_with(b"\r\n0\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("the stream ends")
            .unwrap();
        assert!(n > 0, "the connection closed before the response ended");
        read.extend_from_slice(&chunk[..n]);
    }
}

/// Publishes [`EVENTS`] events of about 1 KiB for `acme` over NATS and waits until
/// ingest has accepted them all.
async fn flood(nats: &NatsServer) {
    let client = async_nats::connect(nats.url()).await.unwrap();
    let filler = "x".repeat(1000);
    for n in 0..EVENTS {
        let body = json!({"data": {"n": n, "filler": filler}}).to_string();
        client
            .publish("ingest.acme.load.generated", body.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();
    let js = async_nats::jetstream::new(client);
    eventually(PATIENCE * 2, "every event to be accepted", || {
        let js = js.clone();
        async move {
            let mut stream = js
                .get_stream(herald_common::nats::EVENTS_STREAM)
                .await
                .ok()?;
            let messages = stream.info().await.ok()?.state.messages;
            (messages >= EVENTS as u64).then_some(())
        }
    })
    .await;
}

const CLIENTS: usize = 10;
const EVENTS: usize = 20_000;
/// How much ingest may grow while 10 streams are not read, 20 000 events of 1 KiB
/// on. docs/api-limits.md gives the arithmetic.
const GROWTH_BOUND_KIB: u64 = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_grow_ingest_memory() {
    let nats = NatsServer::start();
    let (ingest, addr, _dir) = ingest_process(&nats, &[]).await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(open_and_stop_reading(addr).await);
    }
    let before = procfs::rss_kib(ingest.pid());

    let started = Instant::now();
    flood(&nats).await;
    let accepted_in = started.elapsed();
    let after = procfs::rss_kib(ingest.pid());
    let peak = procfs::peak_rss_kib(ingest.pid());
    println!(
        "{CLIENTS} clients not reading, {EVENTS} events of ~1 KiB accepted in {accepted_in:?}: \
         ingest RSS {before} KiB before, {after} KiB after (+{} KiB), peak {peak} KiB (+{} KiB); \
         bound +{GROWTH_BOUND_KIB} KiB",
        after.saturating_sub(before),
        peak.saturating_sub(before),
    );
    assert!(
        after.saturating_sub(before) < GROWTH_BOUND_KIB,
        "ingest grew from {before} KiB to {after} KiB"
    );
    assert!(
        peak.saturating_sub(before) < GROWTH_BOUND_KIB,
        "ingest peaked at {peak} KiB from {before} KiB"
    );

    // Each stream was closed, and says so at its end.
    for (stream, read) in &mut clients {
        read_to_end_of_response(stream, read).await;
        let body = String::from_utf8_lossy(read);
        let events = body.matches("\nevent: load.generated\n").count();
        assert!(
            body.contains(FELL_BEHIND),
            "the stream ends with the comment: {}",
            &body[body.len().saturating_sub(300)..]
        );
        println!(
            "a client that read afterwards got {} KiB: {events} events, then `{}`",
            read.len() / 1024,
            FELL_BEHIND.trim()
        );
        assert!(events < EVENTS);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_ends_live_streams_at_once() {
    let nats = NatsServer::start();
    let (mut ingest, addr, _dir) =
        ingest_process(&nats, &[("HERALD_SHUTDOWN_TIMEOUT", "6s")]).await;
    // A client that reads, following events other than the flood below.
    let (status, response) = open(
        &format!("http://{addr}"),
        API_KEY,
        "/v1/stream?events=job.*",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let reading = tokio::spawn(async move {
        let mut body = response.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    });
    // A client that stopped reading, with more sent its way than its socket holds:
    // its connection cannot finish, and the drain must not wait for it.
    let (_stuck, _) = open_and_stop_reading(addr).await;
    flood(&nats).await;

    let started = Instant::now();
    let (exit, _ingest) = tokio::task::spawn_blocking(move || (ingest.terminate(), ingest))
        .await
        .unwrap();
    let stopped_in = started.elapsed();
    let text = tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("the stream ends")
        .unwrap();
    println!(
        "SIGTERM with a reading and a stuck live stream open: ingest exited ({exit}) in \
         {stopped_in:?}; the reading stream ended with {:?}",
        &text[text.len().saturating_sub(60)..]
    );
    assert!(exit.success(), "ingest drained in time: {exit}");
    assert!(stopped_in < Duration::from_secs(6), "{stopped_in:?}");
    assert!(
        text.ends_with("event: shutdown\ndata: {\"reason\":\"shutdown\"}\n\n"),
        "{:?}",
        &text[text.len().saturating_sub(200)..]
    );
}
