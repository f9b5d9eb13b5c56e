//! Following jobs without webhooks: polling, a job's live stream, the tenant's event
//! stream; and looking up deliveries, events and statistics.

use futures::StreamExt;
use herald_tests::PATIENCE;
use herald_tests::api::sse_events;
use herald_tests::{Herald, NatsServer, Receiver};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Opens a live stream and checks that it is one.
async fn open(herald: &Herald, path: &str) -> reqwest::Response {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", herald.base_url))
        .bearer_auth(herald_tests::herald::API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_can_be_followed_live_until_it_finishes_and_polled() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let (status, body) = api.get("/v1/jobs/job_live").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // A job nobody has heard of has no stream either.
    let (status, body) = tokio::time::timeout(PATIENCE, api.get("/v1/jobs/job_live/stream"))
        .await
        .expect("an unknown job's stream answers at once");
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["code"], "not_found", "{body}");

    let steps = [
        ("job.processing", json!({"jobType": "render"})),
        ("job.progress", json!({"progress_percent": 50})),
        (
            "job.completed",
            json!({"results": {"url": "https://cdn.example.com/out.mp4"}}),
        ),
    ];
    let mut stream = None;
    let mut seen = Vec::new();
    for (event_type, data) in steps {
        api.post(
            "/v1/events",
            json!({"event_type": event_type, "job_id": "job_live", "data": data}),
        )
        .await;
        // Once the job is known, its stream opens with its state.
        if stream.is_none() {
            api.get_when("/v1/jobs/job_live", "the job to be known", |_| true)
                .await;
            stream = Some(Box::pin(sse_events(
                open(&herald, "/v1/jobs/job_live/stream").await,
            )));
        }
        let stream = stream.as_mut().unwrap();
        let (name, view) = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("a change in time")
            .expect("the stream goes on");
        assert_eq!(name, "job");
        seen.push((
            view["status"].as_str().unwrap().to_owned(),
            view["progress"].clone(),
        ));
    }
    assert_eq!(
        seen,
        [
            ("processing".to_owned(), Value::Null),
            ("processing".to_owned(), json!(50.0)),
            ("completed".to_owned(), json!(100.0)),
        ]
    );
    let end = tokio::time::timeout(PATIENCE, stream.as_mut().unwrap().next()).await;
    assert!(
        matches!(end, Ok(None)),
        "the stream closes after a final state"
    );

    let job = api
        .get_when("/v1/jobs/job_live", "the job to complete", |j| {
            j["status"] == "completed"
        })
        .await;
    assert_eq!(job["job_type"], "render");
    assert_eq!(job["result"]["url"], "https://cdn.example.com/out.mp4");
    assert_eq!(job["history"].as_array().unwrap().len(), 3);
    // A finished job's stream gives its state and ends.
    let mut again = Box::pin(sse_events(open(&herald, "/v1/jobs/job_live/stream").await));
    let state = tokio::time::timeout(PATIENCE, again.next())
        .await
        .expect("the state at once");
    assert_eq!(state.unwrap().1["status"], "completed");
    let end = tokio::time::timeout(PATIENCE, again.next())
        .await
        .expect("the end at once");
    assert!(end.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenants_events_stream_as_they_are_accepted() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let mut stream = Box::pin(sse_events(open(&herald, "/v1/stream?events=job.*").await));
    api.post(
        "/v1/events",
        json!({"event_type": "vision.done", "data": {}}),
    )
    .await;
    api.post(
        "/v1/events",
        json!({"event_type": "job.started", "event_id": "evt_live", "data": {"n": 1}}),
    )
    .await;
    let (name, body) = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name, "job.started");
    assert_eq!(body["event_id"], "evt_live");
    assert_eq!(body["data"], json!({"n": 1}));
    let (status, _) = api.get("/v1/stream?events=job..x").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_events_and_statistics_can_be_looked_up() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    receiver.respond_with(&[503]);
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap();
    api.post(
        "/v1/events",
        json!({"event_type": "job.completed", "event_id": "evt_look", "data": {}}),
    )
    .await;
    receiver.wait_for(2, PATIENCE).await;

    let event = api
        .get_when(
            "/v1/events/evt_look",
            "the event's delivery to succeed",
            |body| body["deliveries"][0]["status"] == "success",
        )
        .await;
    assert_eq!(event["event_type"], "job.completed");
    assert_eq!(event["deliveries"][0]["webhook_id"], id);
    let delivery_id = event["deliveries"][0]["delivery_id"].as_str().unwrap();

    let (status, delivery) = api.get(&format!("/v1/deliveries/{delivery_id}")).await;
    assert_eq!(status, StatusCode::OK);
    let attempts = delivery["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status_code"], 503);
    assert_eq!(attempts[0]["error"], "HTTP 503");
    assert_eq!(attempts[1]["status_code"], 200);
    assert!(
        attempts
            .iter()
            .all(|a| a["trigger"] == "auto" && a["response_time_ms"].is_i64())
    );

    let (status, stats) = api
        .get(&format!("/v1/webhooks/{id}/stats?window=24h"))
        .await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["attempts"], 2);
    assert_eq!(stats["success_rate"], 0.5);
    assert!(stats["p95_response_time_ms"].is_i64());

    for path in ["/v1/deliveries/dlv_nope", "/v1/events/evt_nope"] {
        assert_eq!(api.get(path).await.0, StatusCode::NOT_FOUND);
    }
    let other = api.with_key(herald_tests::herald::OTHER_API_KEY);
    assert_eq!(
        other.get(&format!("/v1/deliveries/{delivery_id}")).await.0,
        StatusCode::NOT_FOUND
    );
    let (status, _) = api
        .get(&format!("/v1/webhooks/{id}/deliveries?cursor=forged"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Every `/v1/stream?...` URL README prints, as printed.
fn readme_stream_urls() -> Vec<String> {
    let readme = std::fs::read_to_string(herald_tests::workspace_root().join("README.md"))
        .expect("README.md");
    let mut urls = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("/v1/stream?") {
        let url = &rest[start..];
        let end = url
            .find(|c: char| c == '`' || c == '"' || c == '\'' || c.is_whitespace())
            .unwrap_or(url.len());
        urls.push(url[..end].to_owned());
        rest = &url[end..];
    }
    urls
}

/// Sends `GET <target>` byte for byte as curl does (curl sends the URL's path and
/// query as given, without re-encoding) and returns the connection after the
/// response head, with the status line and the headers.
async fn get_as_curl(
    herald: &Herald,
    target: &str,
) -> (String, tokio::io::BufReader<tokio::net::TcpStream>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let host = herald.base_url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\
         Authorization: Bearer {}\r\n\r\n",
        herald_tests::herald::API_KEY
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut reader = tokio::io::BufReader::new(socket);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let read = tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
            .await
            .expect("an answer")
            .unwrap();
        if read == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    (head, reader)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_stream_example_works_as_printed() {
    use tokio::io::AsyncBufReadExt;
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let urls = readme_stream_urls();
    assert!(!urls.is_empty(), "README shows /v1/stream");
    for target in &urls {
        let (head, _) = get_as_curl(&herald, target).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{target}: {head}");
    }
    // The curl example's own URL follows what its patterns say.
    let example = urls
        .iter()
        .find(|u| u.contains("training."))
        .expect("an example with training.>");
    let (head, mut reader) = get_as_curl(&herald, example).await;
    assert!(head.contains("text/event-stream"), "{head}");
    for event_type in ["vision.done", "job.started", "training.epoch.done"] {
        let (status, body) = api
            .post(
                "/v1/events",
                json!({"event_type": event_type, "event_id": format!("evt_{event_type}"), "data": {}}),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    let mut names = Vec::new();
    while names.len() < 2 {
        let mut line = String::new();
        tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
            .await
            .expect("the stream goes on")
            .unwrap();
        if let Some(name) = line.strip_prefix("event: ") {
            names.push(name.trim().to_owned());
        }
    }
    // Chunked encoding may split lines, but not at these names.
    assert_eq!(names, ["job.started", "training.epoch.done"]);
}
