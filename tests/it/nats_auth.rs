//! Herald connects to NATS servers that require a credential (user and password,
//! token, nkey, `.creds` in operator mode) or TLS (a private CA, mutual TLS); a
//! credential or certificate the server refuses stops it with status 64 naming the
//! variable; one revoked at run time makes `/readyz` say so until it is restored.

use std::path::Path;
use std::process::{Command, Output};

use herald::Mode;
use herald_tests::herald::{SECRET_KEY, binary};
use herald_tests::jwt::{self, Operator};
use herald_tests::pki::TestCa;
use herald_tests::{Herald, NatsServer, PATIENCE, Receiver, eventually};
use reqwest::StatusCode;
use serde_json::json;

const USERS: &str = r#"authorization { users = [ { user: herald, password: "s3cret pass" } ] }"#;

/// Starts ingest in this process with `vars` on top of the test environment; it is
/// ready when this returns.
async fn ingest(nats_url: &str, vars: &[(&str, &str)]) -> Herald {
    let dir = tempfile::tempdir().unwrap();
    let mut env = Herald::test_env(nats_url, dir.path());
    for (key, value) in vars {
        env.set(*key, *value);
    }
    Herald::start_modes(&[Mode::Ingest], env, dir).await
}

/// Runs `herald ingest` as a process with `vars` until it exits.
fn run_ingest(nats_url: &str, vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(binary());
    command
        .arg("ingest")
        .env_clear()
        .env("RUST_LOG", "warn")
        .env("HERALD_API_KEYS", "acme:acme-key-0123456789")
        .env("HERALD_SECRET_KEY", SECRET_KEY)
        .env("HERALD_HTTP_ADDR", "127.0.0.1:0")
        .env("HERALD_NATS_URL", nats_url);
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().expect("run herald")
}

/// Asserts `output` is an exit with status 64 whose message has every one of `words`.
fn assert_refused(output: &Output, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    for word in words {
        assert!(stderr.contains(word), "{word:?} in {stderr}");
    }
    stderr
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_connect_and_events_are_delivered() {
    let nats = NatsServer::start_with(USERS);
    let herald = Herald::start(
        &nats.url(),
        &[
            ("HERALD_NATS_USER", "herald"),
            ("HERALD_NATS_PASSWORD", "s3cret pass"),
        ],
    )
    .await;
    let receiver = Receiver::start().await;
    let api = herald.api();
    api.create_webhook(&receiver.url("/"), &["job.*"]).await;
    let (status, body) = api
        .post(
            "/v1/events",
            json!({"event_type": "job.completed", "event_id": "evt_auth_1", "data": {}}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let received = receiver.wait_for(1, PATIENCE).await;
    assert_eq!(received[0].json()["event_id"], "evt_auth_1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_connects_given_alone_or_in_the_url() {
    let nats = NatsServer::start_with(r#"authorization { token: "t0ken-for-herald" }"#);
    ingest(&nats.url(), &[("HERALD_NATS_TOKEN", "t0ken-for-herald")]).await;
    let url = format!("nats://t0ken-for-herald@127.0.0.1:{}", nats.port());
    ingest(&url, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_in_the_url_connect() {
    let nats = NatsServer::start_with(USERS);
    let url = format!("nats://herald:s3cret%20pass@127.0.0.1:{}", nats.port());
    ingest(&url, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nkey_seed_file_connects() {
    let user = nkeys::KeyPair::new_user();
    let nats = NatsServer::start_with(&format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}",
        user.public_key()
    ));
    let seed = nats.dir().join("herald.nk");
    // As `nk -gen user` writes it, after a comment of the operator's.
    std::fs::write(
        &seed,
        format!("# Herald's NATS user\n{}\n", user.seed().unwrap()),
    )
    .unwrap();
    ingest(&nats.url(), &[("HERALD_NATS_NKEY_SEED", path(&seed))]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creds_file_connects_to_a_server_in_operator_mode() {
    let operator = Operator::new();
    let nats = NatsServer::start_with(&operator.server_config());
    let creds = operator.user_creds(nats.dir(), "herald");
    ingest(&nats.url(), &[("HERALD_NATS_CREDS", path(&creds))]).await;
}

#[test]
fn a_wrong_credential_exits_64_naming_the_variable() {
    let users = NatsServer::start_with(USERS);
    let output = run_ingest(
        &users.url(),
        &[
            ("HERALD_NATS_USER", "herald"),
            ("HERALD_NATS_PASSWORD", "not the password"),
        ],
    );
    let stderr = assert_refused(&output, &["HERALD_NATS_USER/HERALD_NATS_PASSWORD"]);
    assert!(!stderr.contains("not the password"), "{stderr}");

    let output = run_ingest(&users.url(), &[]);
    assert_refused(
        &output,
        &[
            "requires a credential",
            "HERALD_NATS_CREDS",
            "HERALD_NATS_NKEY_SEED",
            "HERALD_NATS_USER",
            "HERALD_NATS_TOKEN",
        ],
    );

    let url = format!("nats://herald:wrong@127.0.0.1:{}", users.port());
    let stderr = assert_refused(&run_ingest(&url, &[]), &["HERALD_NATS_URL"]);
    assert!(!stderr.contains("wrong@"), "{stderr}");

    let tokens = NatsServer::start_with(r#"authorization { token: "t0ken-for-herald" }"#);
    let output = run_ingest(&tokens.url(), &[("HERALD_NATS_TOKEN", "another-token")]);
    let stderr = assert_refused(&output, &["HERALD_NATS_TOKEN"]);
    assert!(!stderr.contains("another-token"), "{stderr}");

    let known = nkeys::KeyPair::new_user();
    let nkeys = NatsServer::start_with(&format!(
        "authorization {{ users = [ {{ nkey: {} }} ] }}",
        known.public_key()
    ));
    let stranger = nkeys.dir().join("stranger.nk");
    std::fs::write(&stranger, nkeys::KeyPair::new_user().seed().unwrap()).unwrap();
    let output = run_ingest(&nkeys.url(), &[("HERALD_NATS_NKEY_SEED", path(&stranger))]);
    assert_refused(&output, &["HERALD_NATS_NKEY_SEED"]);

    let operator = Operator::new();
    let operated = NatsServer::start_with(&operator.server_config());
    // A user of an account the server does not know.
    let creds = jwt::write_creds(&nkeys::KeyPair::new_account(), operated.dir(), "stranger");
    let output = run_ingest(&operated.url(), &[("HERALD_NATS_CREDS", path(&creds))]);
    assert_refused(&output, &["HERALD_NATS_CREDS"]);
}

/// Variables to run with, and words the refusal must hold.
type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str]);

#[test]
fn bad_nats_auth_settings_exit_64_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let missing = path(&missing);
    let account_seed = dir.path().join("account.nk");
    std::fs::write(&account_seed, nkeys::KeyPair::new_account().seed().unwrap()).unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let cases: [Case; 8] = [
        (
            &[("HERALD_NATS_TOKEN", "t"), ("HERALD_NATS_CREDS", missing)],
            &["HERALD_NATS_CREDS", "HERALD_NATS_TOKEN", "only one"],
        ),
        (&[("HERALD_NATS_USER", "herald")], &["HERALD_NATS_PASSWORD"]),
        (&[("HERALD_NATS_PASSWORD", "pass")], &["HERALD_NATS_USER"]),
        (
            &[("HERALD_NATS_TLS_CERT", missing)],
            &["HERALD_NATS_TLS_KEY"],
        ),
        (
            &[("HERALD_NATS_TLS_KEY", missing)],
            &["HERALD_NATS_TLS_CERT"],
        ),
        (
            &[("HERALD_NATS_CREDS", missing)],
            &["HERALD_NATS_CREDS", "cannot read"],
        ),
        (
            &[("HERALD_NATS_NKEY_SEED", path(&account_seed))],
            &["HERALD_NATS_NKEY_SEED", "not of a user"],
        ),
        (
            &[("HERALD_NATS_TLS_CA", path(&not_pem))],
            &["HERALD_NATS_TLS_CA", "no PEM certificate"],
        ),
    ];
    for (vars, words) in cases {
        // No server: configuration is checked before connecting.
        let output = run_ingest("nats://127.0.0.1:1", vars);
        assert_refused(&output, words);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("invalid configuration"),
            "{vars:?}: {stderr}"
        );
    }
}

/// A server with TLS from `ca`, requiring client certificates when `verify`.
fn tls_server(ca: &TestCa, verify: bool) -> NatsServer {
    let files = ca.server();
    NatsServer::start_with(&format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: {verify} }}",
        files.cert.display(),
        files.key.display(),
        ca.cert_path().display(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_certificate_is_verified_with_the_given_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "nats");
    let nats = tls_server(&ca, false);
    ingest(
        &nats.url(),
        &[("HERALD_NATS_TLS_CA", path(&ca.cert_path()))],
    )
    .await;

    // Without the CA the system's roots cannot verify it; with another CA neither.
    let output = run_ingest(&nats.url(), &[]);
    assert_refused(&output, &["HERALD_NATS_TLS_CA", "system's trusted roots"]);
    let other = TestCa::new(dir.path(), "other");
    let output = run_ingest(
        &nats.url(),
        &[("HERALD_NATS_TLS_CA", path(&other.cert_path()))],
    );
    assert_refused(&output, &["HERALD_NATS_TLS_CA", "other-ca.pem"]);

    // A CA requires TLS: a server without it is refused, not used in plain text.
    let plain = NatsServer::start();
    let output = run_ingest(
        &plain.url(),
        &[("HERALD_NATS_TLS_CA", path(&ca.cert_path()))],
    );
    assert_refused(&output, &["HERALD_NATS_TLS_CA", "TLS is required"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_a_client_certificate_the_server_trusts() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path(), "nats");
    let nats = tls_server(&ca, true);
    let client = ca.client();
    ingest(
        &nats.url(),
        &[
            ("HERALD_NATS_TLS_CA", path(&ca.cert_path())),
            ("HERALD_NATS_TLS_CERT", path(&client.cert)),
            ("HERALD_NATS_TLS_KEY", path(&client.key)),
        ],
    )
    .await;

    let output = run_ingest(
        &nats.url(),
        &[("HERALD_NATS_TLS_CA", path(&ca.cert_path()))],
    );
    assert_refused(
        &output,
        &["HERALD_NATS_TLS_CERT", "requires a client certificate"],
    );

    let stranger = TestCa::new(dir.path(), "stranger").client();
    let output = run_ingest(
        &nats.url(),
        &[
            ("HERALD_NATS_TLS_CA", path(&ca.cert_path())),
            ("HERALD_NATS_TLS_CERT", path(&stranger.cert)),
            ("HERALD_NATS_TLS_KEY", path(&stranger.key)),
        ],
    );
    assert_refused(
        &output,
        &["HERALD_NATS_TLS_CERT", "refused the client certificate"],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_credential_makes_readyz_say_so_until_restored() {
    let mut nats = NatsServer::start_with(USERS);
    let herald = ingest(
        &nats.url(),
        &[
            ("HERALD_NATS_USER", "herald"),
            ("HERALD_NATS_PASSWORD", "s3cret pass"),
        ],
    )
    .await;
    let url = format!("{}/readyz", herald.base_url);

    nats.reload(r#"authorization { users = [ { user: someone-else, password: other } ] }"#);
    let reason = eventually(PATIENCE, "/readyz to report the refused credential", || {
        let url = url.clone();
        async move {
            let answer = reqwest::get(&url).await.ok()?;
            if answer.status() != StatusCode::SERVICE_UNAVAILABLE {
                return None;
            }
            let reason = answer.text().await.ok()?;
            reason.contains("refused").then_some(reason)
        }
    })
    .await;
    assert!(
        reason.contains("HERALD_NATS_USER/HERALD_NATS_PASSWORD"),
        "{reason}"
    );
    assert!(!reason.contains("s3cret"), "{reason}");

    nats.reload(USERS);
    herald.wait_ready().await;
}
