//! `herald listen`: the real binary against a running Herald forwards deliveries to
//! a local receiver, signed as a webhook's (checked by the Python
//! `standardwebhooks` library and the hex scheme); the local answer is the
//! recorded attempt; a local 500 is retried; a network cut between CLI and Herald
//! loses nothing; sessions are the tenant's alone; Ctrl-C and expiry remove them.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_tests::herald::{API_KEY, OTHER_API_KEY, TENANT, binary};
use herald_tests::receiver::Received;
use herald_tests::verify::{hex_signature, standard_webhooks};
use herald_tests::{Api, Herald, NatsServer, PATIENCE, Receiver, eventually, workspace_root};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A running `herald listen`, its stdout read line by line. Killed on drop.
struct Listen {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Listen {
    fn start(url: &str, forward_to: &str, extra: &[&str]) -> Self {
        let mut child = Command::new(binary())
            .args(["listen", "--url", url, "--api-key", API_KEY])
            .args(["--forward-to", forward_to, "--json"])
            .args(extra)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start herald listen");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    return;
                }
            }
        });
        Listen { child, lines }
    }

    /// The next line of type `kind`, as JSON.
    fn next(&self, kind: &str) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no `{kind}` line from herald listen"));
            let value: Value = serde_json::from_str(&line).expect("a JSON line");
            if value["type"] == kind {
                return value;
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit status.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for herald listen")
    }
}

impl Drop for Listen {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn publish(api: &Api, event_id: &str) {
    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.completed", "event_id": event_id, "data": {"text": "café ✓", "n": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

/// The attempts of the delivery of `event_id`, once `done` holds for them.
async fn attempts(api: &Api, event_id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let delivery_id = api
        .get_until(&format!("/v1/events/{event_id}"), "the delivery", |event| {
            event["deliveries"][0]["delivery_id"]
                .as_str()
                .map(str::to_owned)
        })
        .await;
    api.get_until(
        &format!("/v1/deliveries/{delivery_id}"),
        "the attempts",
        |delivery| {
            let attempts = delivery["attempts"].as_array()?.clone();
            done(&attempts).then_some(attempts)
        },
    )
    .await
}

/// The Python `standardwebhooks` library, as README shows it, takes `request`.
fn python_verifies(secret: &str, request: &Received) {
    let tools = crate::signing::receiver_tools();
    let body = request.body.to_vec();
    let mut tampered = body.clone();
    tampered.push(b' ');
    let cases = json!([
        crate::signing::case("forwarded", secret, request, &body, true),
        crate::signing::case("forwarded, tampered", secret, request, &tampered, false),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cases.json");
    std::fs::write(&file, serde_json::to_vec(&cases).unwrap()).unwrap();
    let mut python = Command::new("python3");
    python
        .arg(workspace_root().join("tests/receivers/check.py"))
        .arg(workspace_root().join("README.md"))
        .arg(&file)
        .env("PYTHONPATH", tools.join("py"));
    crate::signing::run_check(python, "Python");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_signed_deliveries_and_records_the_local_answers() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut listen = Listen::start(
        &herald.base_url,
        &receiver.url("/hook"),
        &["--events", "job.*,training.>", "--secret", secret],
    );
    let session = listen.next("session");
    assert_eq!(session["secret"], secret);
    assert_eq!(session["events"], json!(["job.*", "training.>"]));
    let id = session["session_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ls_"), "{session}");
    listen.next("ready");

    publish(&api, "evt_listen_1").await;
    let received = receiver.wait_for(1, PATIENCE).await;
    let request = &received[0];
    assert_eq!(request.path, "/hook");
    assert_eq!(request.header("webhook-id"), Some("evt_listen_1"));
    assert_eq!(request.header("x-webhook-id"), Some(id.as_str()));
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(standard_webhooks(secret, request));
    assert!(hex_signature(secret, request));
    assert_eq!(request.json()["data"]["text"], "café ✓");
    python_verifies(secret, request);
    let line = listen.next("delivery");
    assert_eq!(line["event_id"], "evt_listen_1");
    assert_eq!(line["event_type"], "job.completed");
    assert_eq!(line["status"], 200);
    let recorded = attempts(&api, "evt_listen_1", |a| !a.is_empty()).await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(recorded[0]["status_code"], 200, "{recorded:?}");
    assert_eq!(recorded[0]["status"], "success");

    // A local 500 is recorded and retried like any failed attempt.
    receiver.respond_with(&[500]);
    publish(&api, "evt_listen_2").await;
    let recorded = attempts(&api, "evt_listen_2", |a| a.len() >= 2).await;
    assert_eq!(recorded[0]["status_code"], 500, "{recorded:?}");
    assert_eq!(recorded[1]["status_code"], 200, "{recorded:?}");

    // Sessions are not webhooks.
    let (status, webhooks) = api.get("/v1/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(webhooks["webhooks"], json!([]));
    let (status, _) = api.get(&format!("/v1/webhooks/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Ctrl-C ends the session, and the CLI exits 0.
    let (status, _) = api.get(&format!("/v1/listen/sessions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let exit = tokio::task::spawn_blocking(move || listen.interrupt())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    let (status, body) = api.get(&format!("/v1/listen/sessions/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenant_cannot_reach_a_session() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let api = herald.api();
    let (status, session) = api.post("/v1/listen/sessions", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    assert_eq!(session["events"], json!([">"]));
    assert!(session["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = session["session_id"].as_str().unwrap();
    let (status, shown) = api.get(&format!("/v1/listen/sessions/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(shown.get("secret").is_none(), "{shown}");

    let other = api.with_key(OTHER_API_KEY);
    let path = format!("/v1/listen/sessions/{id}");
    let (status, _) = other.get(&path).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = other.get(&format!("{path}/requests")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = other
        .post(
            &format!("{path}/results"),
            json!({"token": "sealed:x", "status": 200, "duration_ms": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = other.call("DELETE", &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A forged token is no request of the session's.
    let (status, _) = api
        .post(
            &format!("{path}/results"),
            json!({"token": "sealed:x", "status": 200, "duration_ms": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.get(&path).await;
    assert_eq!(status, StatusCode::OK, "the session is still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_without_its_cli_expires_and_is_removed() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[("HERALD_LISTEN_TTL", "5s")]).await;
    let api = herald.api();
    let (status, session) = api.post("/v1/listen/sessions", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{session}");
    let id = session["session_id"].as_str().unwrap().to_owned();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let bucket = async_nats::jetstream::new(client)
        .get_key_value("endpoints")
        .await
        .unwrap();
    let key = format!("acme.{id}");
    assert!(bucket.get(&key).await.unwrap().is_some());
    eventually(
        Duration::from_secs(30),
        "the session is removed",
        || async {
            let (status, _) = api.get(&format!("/v1/listen/sessions/{id}")).await;
            let stored = bucket.get(&key).await.unwrap();
            (status == StatusCode::NOT_FOUND && stored.is_none()).then_some(())
        },
    )
    .await;
}

/// A TCP proxy in front of Herald whose connections can be cut.
struct Proxy {
    addr: std::net::SocketAddr,
    cut: Arc<AtomicBool>,
    /// Cancelled to drop every open connection.
    connections: Arc<Mutex<CancellationToken>>,
    _stop: tokio_util::sync::DropGuard,
}

impl Proxy {
    async fn start(target: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(CancellationToken::new()));
        let stop = CancellationToken::new();
        tokio::spawn({
            let (cut, connections, stop) = (cut.clone(), connections.clone(), stop.clone());
            async move {
                loop {
                    let accepted = tokio::select! {
                        () = stop.cancelled() => return,
                        accepted = listener.accept() => accepted,
                    };
                    let Ok((mut inbound, _)) = accepted else {
                        continue;
                    };
                    if cut.load(Ordering::SeqCst) {
                        drop(inbound); // refused while cut
                        continue;
                    }
                    let dropped = connections.lock().unwrap().clone();
                    tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        tokio::select! {
                            () = dropped.cancelled() => {}
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        }
                    });
                }
            }
        });
        Proxy {
            addr,
            cut,
            connections,
            _stop: stop.drop_guard(),
        }
    }

    /// Drops every connection and refuses new ones until [`Proxy::restore`].
    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut connections = self.connections.lock().unwrap();
        connections.cancel();
        *connections = CancellationToken::new();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_cut_between_cli_and_herald_loses_nothing() {
    let nats = NatsServer::start();
    // Retries wide enough apart to outlast the cut.
    let herald = Herald::start(
        &nats.url(),
        &[("HERALD_RETRY_SCHEDULE", "1s,2s,3s,4s,5s,5s")],
    )
    .await;
    let api = herald.api();
    let receiver = Receiver::start().await;
    let target = herald
        .base_url
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let listen = Listen::start(&format!("http://{}", proxy.addr), &receiver.url("/"), &[]);
    let session = listen.next("session");
    let secret = session["secret"].as_str().unwrap().to_owned();
    listen.next("ready");
    publish(&api, "evt_cut_0").await;
    receiver.wait_for(1, PATIENCE).await;

    proxy.cut();
    for n in 1..=3 {
        publish(&api, &format!("evt_cut_{n}")).await;
    }
    // The cut lasts until an attempt has failed for want of a listener.
    let session_id = session["session_id"].as_str().unwrap();
    let cut = herald_proto::ids::delivery_id(TENANT, "evt_cut_1", session_id);
    api.get_when(
        &format!("/v1/deliveries/{cut}"),
        "an attempt made while the network was cut",
        |d| d["attempt_count"].as_i64().unwrap_or(0) >= 1 && d["status"] != "success",
    )
    .await;
    proxy.restore();

    let ids = eventually(PATIENCE, "every event forwarded", || async {
        let mut ids: Vec<String> = receiver
            .received()
            .iter()
            .filter_map(|r| r.header("webhook-id").map(str::to_owned))
            .collect();
        ids.sort();
        ids.dedup();
        (ids.len() == 4).then_some(ids)
    })
    .await;
    assert_eq!(ids, ["evt_cut_0", "evt_cut_1", "evt_cut_2", "evt_cut_3"]);
    for request in receiver.received() {
        assert!(standard_webhooks(&secret, &request));
    }
    for n in 1..=3 {
        let recorded = attempts(&api, &format!("evt_cut_{n}"), |a| {
            a.last().is_some_and(|a| a["status_code"] == 200)
        })
        .await;
        assert!(!recorded.is_empty());
    }
}
