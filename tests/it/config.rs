//! Herald refuses to start on bad configuration or a NATS server without what it
//! needs, saying why.

use std::path::PathBuf;
use std::process::Command;

use herald_common::config::MapEnv;
use herald_tests::herald::binary;
use herald_tests::{Herald, NatsServer};

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
    let output = Command::new(binary()).arg("everything").output().unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&output.stderr).contains("usage"));
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

#[test]
fn an_unreachable_nats_server_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(binary())
        .arg("all")
        .env_clear()
        .env("HERALD_API_KEYS", "acme:acme-key-0123456789")
        .env("HERALD_SECRET_KEY", herald_tests::herald::SECRET_KEY)
        .env("HERALD_HTTP_ADDR", "127.0.0.1:0")
        .env(
            "HERALD_NATS_URL",
            format!("nats://127.0.0.1:{}", herald_tests::free_port()),
        )
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.path().join("h.db").display()),
        )
        .output()
        .expect("run herald");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cannot connect to NATS"), "{stderr}");
}
