//! The broker as a boundary: a nats-server with the users and permissions of
//! `deploy/nats/herald-auth.conf` (included as it is), the four services each
//! connected as its own user, and a producer of tenant `acme` using `nats-py` with
//! the credential docs/nats-security.md shows how to issue.

use std::path::PathBuf;
use std::process::Command;

use futures::StreamExt;
use herald_tests::api::sse_events;
use herald_tests::herald::{API_KEY, Process, SERVICES, wait_ready};
use herald_tests::verify::standard_webhooks;
use herald_tests::{Api, Herald, NatsServer, PATIENCE, Receiver, workspace_root};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Each service's user and the environment variable its password is read from by
/// the server, as deploy/nats/herald-auth.conf names them.
const USERS: [(&str, &str); 4] = [
    ("ingest", "HERALD_NATS_INGEST_PASSWORD"),
    ("dispatcher", "HERALD_NATS_DISPATCHER_PASSWORD"),
    ("retry-scheduler", "HERALD_NATS_RETRY_SCHEDULER_PASSWORD"),
    ("status-tracker", "HERALD_NATS_STATUS_TRACKER_PASSWORD"),
];
const PRODUCER_PASSWORD_VAR: &str = "HERALD_NATS_PRODUCER_ACME_PASSWORD";

fn password(user: &str) -> String {
    format!("{user}-password-for-tests")
}

/// A nats-server with the deployment's permission file, its four users, and a
/// producer user for `acme` written as the file's template shows one.
fn broker() -> NatsServer {
    let deploy = workspace_root().join("deploy/nats/herald-auth.conf");
    let file = std::fs::read_to_string(&deploy).expect("deploy/nats/herald-auth.conf");
    // The file's own `authorization` block lists the four services; this one, later
    // in the configuration, replaces it with the same four and a producer.
    let extra = format!(
        r#"include "herald-auth.conf"
authorization {{
  users: [
    $HERALD_INGEST
    $HERALD_DISPATCHER
    $HERALD_RETRY_SCHEDULER
    $HERALD_STATUS_TRACKER
    {{
      user: acme
      password: ${PRODUCER_PASSWORD_VAR}
      permissions: {{
        publish: {{ allow: ["ingest.acme.>"] }}
        subscribe: {{ allow: ["_INBOX.acme.>"] }}
      }}
    }}
  ]
}}"#
    );
    let mut env: Vec<(String, String)> = USERS
        .iter()
        .map(|(user, var)| ((*var).to_owned(), password(user)))
        .collect();
    env.push((PRODUCER_PASSWORD_VAR.to_owned(), password("acme")));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    NatsServer::start_with_files(&extra, &[("herald-auth.conf", &file)], &env)
}

/// The lines of the server's log reporting a permissions violation by `user`.
fn violations_by(nats: &NatsServer, user: &str) -> Vec<String> {
    let needle = format!("/user:{user}\"");
    nats.log()
        .lines()
        .filter(|line| line.contains("Violation") && line.contains(&needle))
        .map(str::to_owned)
        .collect()
}

/// Shows the server's permission refusals when the test fails, as the first
/// place to look.
struct RefusalsOnPanic<'a>(&'a NatsServer);

impl Drop for RefusalsOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.0.log();
            let refusals: Vec<&str> = log.lines().filter(|l| l.contains("Violation")).collect();
            eprintln!("the server's refusals:\n{}", refusals.join("\n"));
        }
    }
}

/// Where `make receiver-libs` installs nats-py (and the receivers' libraries).
fn python_path() -> PathBuf {
    let py = workspace_root().join(".tools/receivers/py");
    assert!(
        py.join("nats").is_dir(),
        "nats-py is not installed in {}: run `make receiver-libs` (make test does)",
        py.display()
    );
    py
}

/// Runs tests/receivers/producer.py as `acme` and returns its report.
fn run_producer(nats: &NatsServer) -> Value {
    let output = Command::new("python3")
        .arg(workspace_root().join("tests/receivers/producer.py"))
        .arg(format!("nats://127.0.0.1:{}", nats.port()))
        .args(["acme", &password("acme"), "acme", "globex"])
        .env("PYTHONPATH", python_path())
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "the producer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the producer's report is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

/// Starts `service` as a process of its own connected as its own user, and
/// waits until it is ready. Returns it and its base URL.
async fn spawn_as_itself(
    nats: &NatsServer,
    service: &str,
    env: &herald_common::config::MapEnv,
) -> (Process, String) {
    let mut env = env.clone();
    env.set("HERALD_NATS_URL", nats.url());
    env.set("HERALD_NATS_USER", service);
    env.set("HERALD_NATS_PASSWORD", password(service));
    let (process, addr) = Process::spawn_listening(service, &env);
    let base = format!("http://{addr}");
    wait_ready(&base).await;
    (process, base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_services_each_with_only_its_own_user_run_the_whole_path() {
    herald_common::telemetry::init_crypto();
    let nats = broker();
    let _refusals = RefusalsOnPanic(&nats);
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(&nats.url(), dir.path());
    // One attempt at a time per endpoint, and one task waiting in memory: a burst
    // is parked in PARKED and read back from it.
    env.set("HERALD_ENDPOINT_CONCURRENCY", "1");
    env.set("HERALD_DISPATCH_QUEUE", "1");
    let mut processes = Vec::new();
    let mut bases = std::collections::HashMap::new();
    for service in SERVICES {
        let (process, base) = spawn_as_itself(&nats, service, &env).await;
        processes.push(process);
        bases.insert(service, base);
    }
    let ingest_base = bases["ingest"].clone();
    let api = Api::new(&ingest_base, API_KEY);

    let receiver = Receiver::start().await;
    let webhook = api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let id = webhook["webhook_id"].as_str().unwrap().to_owned();
    let secret = webhook["secret"].as_str().unwrap().to_owned();

    // The tenant's live stream, open before anything is published.
    let live = reqwest::Client::new()
        .get(format!("{ingest_base}/v1/stream?events=job.*"))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), StatusCode::OK);
    let mut live = Box::pin(sse_events(live));

    // An event over HTTP; the receiver fails its first attempt, so it is retried.
    receiver.respond_with(&[500]);
    let (status, accepted) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.completed", "job_id": "job_http", "data": {"via": "http"}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let received = receiver.wait_for(2, PATIENCE).await;
    assert_eq!(received[0].json()["data"], json!({"via": "http"}));
    assert_eq!(received[1].json()["retry_count"], 1);
    api.logged_delivery(&id, "the retry to succeed", |d| d["status"] == "success")
        .await;

    // An event over NATS, from a producer holding acme's credential.
    let report = run_producer(&nats);
    assert_eq!(report["ack"]["stream"], "INGEST", "{report}");
    let received = receiver.wait_for(3, PATIENCE).await;
    assert_eq!(
        received[2].json()["data"],
        json!({"from": "nats-py", "tenant": "acme"})
    );
    for request in &received {
        assert!(standard_webhooks(&secret, request), "a valid signature");
    }

    // The status log has both deliveries, and the test delivery goes out too.
    let log = api
        .get_when(
            &format!("/v1/webhooks/{id}/deliveries"),
            "both deliveries logged as successful",
            |body| {
                body["deliveries"]
                    .as_array()
                    .is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["status"] == "success"))
            },
        )
        .await;
    assert_eq!(log["deliveries"].as_array().unwrap().len(), 2);
    let (status, outcome) = api
        .post(&format!("/v1/webhooks/{id}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{outcome}");
    assert_eq!(outcome["success"], true, "{outcome}");
    let received = receiver.wait_for(4, PATIENCE).await;
    assert_eq!(received[3].json()["event_type"], "webhook.test");

    // The live stream saw both events.
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let (_, event) = tokio::time::timeout(PATIENCE, live.next())
            .await
            .expect("the live stream's events in time")
            .expect("the live stream goes on");
        seen.push(event["data"].clone());
    }
    assert!(seen.contains(&json!({"via": "http"})), "{seen:?}");
    assert!(
        seen.contains(&json!({"from": "nats-py", "tenant": "acme"})),
        "{seen:?}"
    );

    // A burst to the slowed receiver: what the endpoint cannot take at once is
    // parked, then delivered in turn.
    receiver.delay(std::time::Duration::from_millis(200));
    for n in 0..8 {
        api.post(
            "/v1/events",
            json!({"event_type": "job.progress", "data": {"n": n}}),
        )
        .await;
    }
    let received = receiver.wait_for(12, PATIENCE).await;
    let mut burst: Vec<u64> = received[4..]
        .iter()
        .filter_map(|r| r.json()["data"]["n"].as_u64())
        .collect();
    burst.sort_unstable();
    assert_eq!(burst, (0..8).collect::<Vec<_>>());
    let parked = herald_tests::metrics::scrape(&bases["dispatcher"])
        .await
        .get("herald_tasks_parked_total")
        .copied()
        .expect("the dispatcher counts parked tasks");
    assert!(parked > 0.0, "some of the burst was parked");

    // A listening session: the dispatcher asks ingest over NATS, ingest relays the
    // request and hands the answer back to the dispatcher's inbox.
    let (status, session) = api
        .post("/v1/listen/sessions", json!({"events": ["listen.*"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let session_id = session["session_id"].as_str().unwrap().to_owned();
    let requests = reqwest::Client::new()
        .get(format!(
            "{ingest_base}/v1/listen/sessions/{session_id}/requests"
        ))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(requests.status(), StatusCode::OK);
    let mut requests = Box::pin(sse_events(requests));
    let (status, accepted) = api
        .post(
            "/v1/events",
            json!({"event_type": "listen.check", "event_id": "evt_listen", "data": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let (kind, request) = tokio::time::timeout(PATIENCE, requests.next())
        .await
        .expect("the session's request in time")
        .expect("the stream goes on");
    assert_eq!(kind, "request", "{request}");
    let (status, _) = api
        .post(
            &format!("/v1/listen/sessions/{session_id}/results"),
            json!({"token": request["token"], "status": 202, "duration_ms": 3, "body": "ok"}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    api.get_when(
        "/v1/events/evt_listen",
        "the session's attempt recorded",
        |event| event["deliveries"][0]["status_code"] == 202,
    )
    .await;

    // Nothing Herald did was refused by the broker. (The producer's refused
    // attempts are in the log, which shows the log is read.)
    drop(processes);
    assert!(
        !violations_by(&nats, "acme").is_empty(),
        "the producer's refusals are logged:\n{}",
        nats.log()
    );
    for (user, _) in USERS {
        let violations = violations_by(&nats, user);
        assert!(
            violations.is_empty(),
            "{user} was refused:\n{}",
            violations.join("\n")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_credential_publishes_only_its_own_tenants_events() {
    herald_common::telemetry::init_crypto();
    let nats = broker();
    let _refusals = RefusalsOnPanic(&nats);
    let dir = tempfile::tempdir().unwrap();
    let env = Herald::test_env(&nats.url(), dir.path());
    // Ingest provisions the streams the producer publishes to.
    let (_ingest, _) = spawn_as_itself(&nats, "ingest", &env).await;

    let report = run_producer(&nats);
    assert_eq!(report["ack"]["stream"], "INGEST", "{report}");
    let attempts = report["attempts"].as_object().expect("attempts");
    for what in [
        "publish ingest.globex.job.completed",
        "subscribe events.>",
        "stream info INGEST",
        "stream create",
        "consumer create on EVENTS",
    ] {
        let outcome = attempts[what].as_str().unwrap_or_default();
        assert!(
            outcome.starts_with("refused: ")
                && outcome.to_lowercase().contains("permissions violation"),
            "{what}: {outcome}"
        );
    }
    let logged = violations_by(&nats, "acme").join("\n");
    for subject in [
        "ingest.globex.job.completed",
        "events.>",
        "$JS.API.STREAM.INFO.INGEST",
        "$JS.API.STREAM.CREATE.ACME_COPY",
        "$JS.API.CONSUMER.DURABLE.CREATE.EVENTS.acme-reader",
    ] {
        assert!(
            logged.contains(&format!("Violation - Subject \"{subject}\"")),
            "the server refused {subject}:\n{logged}"
        );
    }
}
