//! Herald refuses to start on bad configuration or a NATS server without what it
//! needs, saying why; a NATS server not there yet it waits for, answering
//! `/healthz` and saying in `/readyz` what it waits for.

use std::path::PathBuf;
use std::process::Command;

use herald_common::config::MapEnv;
use herald_tests::herald::{Process, binary, wait_ready};
use herald_tests::{Herald, NatsServer, PATIENCE, eventually};
use reqwest::StatusCode;

#[test]
fn invalid_configuration_exits_64_naming_the_variable() {
    let cases = [
        ("HERALD_API_KEYS", "acme"),
        ("HERALD_HTTP_ADDR", "nowhere"),
        ("HERALD_ALLOWED_TARGETS", "10.0.0.0/99"),
        ("HERALD_RETRY_SCHEDULE", "5x"),
        ("DATABASE_URL", "mysql://localhost/herald"),
        ("HERALD_SECRET_KEY", "c2hvcnQ="),
        ("HERALD_DELIVERY_TIMEOUT", "2m"),
        ("HERALD_DB_POOL_SIZE", "0"),
    ];
    for (var, value) in cases {
        let output = Command::new(binary())
            .arg("all")
            .env_clear()
            .env("HERALD_API_KEYS", "acme:acme-key-0123456789")
            .env("HERALD_SECRET_KEY", herald_tests::herald::SECRET_KEY)
            .env(var, value)
            .output()
            .expect("run herald");
        assert_eq!(output.status.code(), Some(64), "{var}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(var), "{var}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_older_than_2_12_is_refused() {
    // The distribution's nats-server on this machine is older than 2.12.
    let old = PathBuf::from("/usr/sbin/nats-server");
    if !old.exists() {
        eprintln!("SKIPPED: no old nats-server at /usr/sbin/nats-server to test against");
        return;
    }
    let nats = NatsServer::start_binary(old);
    let dir = tempfile::tempdir().unwrap();
    let env: MapEnv = Herald::test_env(&nats.url(), dir.path());
    let configs = herald::Configs::load(&[herald::Mode::Dispatcher], &env).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = herald::run(configs, listener, Default::default())
        .await
        .expect_err("an old server is refused");
    let message = err.to_string();
    assert!(
        message.contains("needs nats-server 2.12 or newer"),
        "{message}"
    );
}

#[test]
fn a_port_in_use_exits_71_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = Command::new(binary())
        .arg("all")
        .env_clear()
        .env("HERALD_API_KEYS", "acme:acme-key-0123456789")
        .env("HERALD_SECRET_KEY", herald_tests::herald::SECRET_KEY)
        .env("HERALD_HTTP_ADDR", &addr)
        .output()
        .expect("run herald");
    assert_eq!(output.status.code(), Some(71));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&addr), "{stderr}");
}

/// `herald all` against `nats_url` as a process of its own, on a free port.
fn spawn_all(nats_url: &str, dir: &std::path::Path) -> (Process, String) {
    let env = Herald::test_env(nats_url, dir);
    let (process, addr) = Process::spawn_listening("all", &env);
    (process, format!("http://{addr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_nats_server_is_waited_for_while_health_answers() {
    herald_common::telemetry::init_crypto();
    let port = herald_tests::free_port();
    let dir = tempfile::tempdir().unwrap();
    let (mut herald, base) = spawn_all(&format!("nats://127.0.0.1:{port}"), dir.path());
    let waiting = eventually(PATIENCE, "/readyz to say what start-up waits for", || {
        let base = base.clone();
        async move {
            let health = reqwest::get(format!("{base}/healthz")).await.ok()?;
            let ready = reqwest::get(format!("{base}/readyz")).await.ok()?;
            (health.status() == StatusCode::OK && ready.status() == StatusCode::SERVICE_UNAVAILABLE)
                .then_some(ready.text().await.ok()?)
                .filter(|reason| reason.contains("cannot connect"))
        }
    })
    .await;
    assert!(waiting.starts_with("connecting to NATS: "), "{waiting}");
    assert!(waiting.contains(&port.to_string()), "{waiting}");
    // The API says only that Herald is starting.
    let api = herald_tests::Api::new(&base, herald_tests::herald::API_KEY);
    let (status, body) = api.get("/v1/webhooks").await;
    herald_tests::api::assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    assert!(!body.to_string().contains("connect"), "{body}");
    assert!(herald.exit_status().is_none(), "it waits rather than exits");

    // The server comes; Herald starts without a restart.
    let _nats = NatsServer::start_on(port);
    wait_ready(&base).await;
    let status = tokio::task::spawn_blocking(move || herald.terminate())
        .await
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_waiting_for_nats_exits_promptly() {
    herald_common::telemetry::init_crypto();
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("nats://127.0.0.1:{}", herald_tests::free_port());
    let (mut herald, base) = spawn_all(&nowhere, dir.path());
    // Long enough to be in the backoff between attempts.
    eventually(PATIENCE, "start-up to have failed a few times", || {
        let base = base.clone();
        async move {
            let ready = reqwest::get(format!("{base}/readyz")).await.ok()?;
            ready
                .text()
                .await
                .ok()?
                .contains("cannot connect")
                .then_some(())
        }
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let asked = std::time::Instant::now();
    let status = tokio::task::spawn_blocking(move || herald.terminate())
        .await
        .unwrap();
    assert!(
        status.success(),
        "a shutdown while starting is clean: {status}"
    );
    assert!(
        asked.elapsed() < std::time::Duration::from_secs(5),
        "exited {:?} after SIGTERM",
        asked.elapsed()
    );
}

#[test]
fn replicas_beyond_a_single_server_exit_64_naming_the_variable() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .arg("all")
        .env_clear()
        .envs(Herald::test_env(&nats.url(), dir.path()).0)
        .env("HERALD_STREAM_REPLICAS", "3")
        .output()
        .expect("run herald");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("HERALD_STREAM_REPLICAS"), "{stderr}");
}

#[test]
fn a_seed_url_that_is_not_one_exits_64_naming_the_variable() {
    let output = Command::new(binary())
        .arg("all")
        .env_clear()
        .env("HERALD_API_KEYS", "acme:acme-key-0123456789")
        .env("HERALD_SECRET_KEY", herald_tests::herald::SECRET_KEY)
        .env(
            "HERALD_NATS_URL",
            "nats://herald:hunter2@127.0.0.1:4222,nats://herald:hunter2@127.0.0.1:notaport",
        )
        .output()
        .expect("run herald");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("HERALD_NATS_URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn a_value_outside_its_range_exits_64_saying_the_range() {
    for (var, value, reason) in [
        (
            "HERALD_DISPATCH_MEMORY",
            "1MiB",
            "must be at least 16MiB (a quarter of it must hold the largest task)",
        ),
        (
            "HERALD_PARTITION_LEASE",
            "100ms",
            "must be between 1s and 5m",
        ),
        ("HERALD_SECRET_ROTATION_GRACE", "31d", "must be at most 30d"),
        (
            "HERALD_EVENTS_MAX_BYTES",
            "1MiB",
            "must be between 8MiB and 16TiB",
        ),
        ("HERALD_STREAM_BUFFER", "0", "must be between 1 and 65536"),
        (
            "HERALD_REPLICA_ID",
            "a.b",
            "must be 1 to 128 letters, digits, `_` or `-`",
        ),
    ] {
        let output = Command::new(binary())
            .arg("all")
            .env_clear()
            .env("HERALD_API_KEYS", "acme:acme-key-0123456789")
            .env("HERALD_SECRET_KEY", herald_tests::herald::SECRET_KEY)
            .env(var, value)
            .output()
            .expect("run herald");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(64), "{var}={value}: {stderr}");
        assert!(
            stderr.contains(&format!("{var}: {reason}")),
            "{var}={value}: {stderr}"
        );
    }
}
