//! The API's OpenAPI document as a contract, checked with tools nobody here wrote
//! (tests/contract/requirements.txt, installed by `make receiver-libs`): the served
//! document is the committed one and valid OpenAPI 3.1 (`openapi-spec-validator`);
//! `schemathesis` fuzzes a live Herald from it with every check; and a client
//! generated from it (`openapi-python-client`) creates a webhook and reads its
//! deliveries. `/docs` renders the document with Herald's own assets only.

use std::path::PathBuf;

use herald::Mode;
use herald_tests::herald::API_KEY;
use herald_tests::{Herald, NatsServer, Receiver, workspace_root};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use tokio::process::Command;

/// A command line of the contract tools' virtual environment.
fn tool(name: &str) -> PathBuf {
    let path = workspace_root().join(".tools/contract/bin").join(name);
    assert!(
        path.is_file(),
        "{} is not installed: run `make receiver-libs` (make test does)",
        path.display()
    );
    path
}

fn committed_document() -> PathBuf {
    workspace_root().join("docs/openapi.json")
}

/// Runs `command` to its end; panics with its output when it fails.
async fn run(command: &mut Command, what: &str) -> String {
    let output = command.output().await.expect("the tool starts");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_the_committed_one_valid_and_browsable() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let http = reqwest::Client::new();

    // No key needed for the document and its reference.
    let served = http
        .get(format!("{}/openapi.json", herald.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()[CONTENT_TYPE], "application/json");
    let served = served.text().await.unwrap();
    let committed = std::fs::read_to_string(committed_document()).unwrap();
    assert!(
        served == committed,
        "GET /openapi.json is not docs/openapi.json"
    );

    let report = run(
        Command::new(tool("openapi-spec-validator")).arg(committed_document()),
        "openapi-spec-validator",
    )
    .await;
    assert!(report.contains("OK"), "{report}");
    let document: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["webhooks"]["delivery"]["post"].is_object());

    let page = http
        .get(format!("{}/docs", herald.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let policy = page.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    for asset in ["/docs/reference.js", "/docs/reference.css"] {
        assert!(html.contains(asset), "{asset} is not in the page");
        let answer = http
            .get(format!("{}{asset}", herald.base_url))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{asset}");
        let body = answer.text().await.unwrap();
        assert!(!body.contains("https://"), "{asset} loads from elsewhere");
    }
}

/// Every phase (examples, coverage, fuzzing, stateful) and every check:
/// no 5xx, every answer as the document says (status, headers, content type,
/// schema, SSE frames), schema-violating requests refused, schema-valid ones
/// taken (or refused with 422 for a rule JSON Schema cannot state, as
/// tests/contract/schemathesis.toml explains), no route usable without a key.
/// `GET /v1/stream` is left out: it never ends by itself, and
/// tests/it/jobs.rs drives it. Herald runs without its dispatcher: the webhooks
/// schemathesis registers point anywhere, and no test may send beyond this
/// machine (so a test delivery answers 503, as documented).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_nothing_against_a_live_herald() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = Herald::test_env(&nats.url(), dir.path());
    let modes = [Mode::Ingest, Mode::RetryScheduler, Mode::StatusTracker];
    let herald = Herald::start_modes(&modes, env, dir).await;
    let config = workspace_root().join("tests/contract/schemathesis.toml");
    let dir = tempfile::tempdir().unwrap();
    let key = format!("Authorization: Bearer {API_KEY}");
    let schemathesis = || {
        let mut command = Command::new(tool("schemathesis"));
        command
            .current_dir(dir.path())
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(format!("{}/openapi.json", herald.base_url))
            .args(["--checks", "all", "--workers", "2", "--no-color"])
            .args(["--exclude-path", "/v1/stream"])
            .args(["-H", &key]);
        command
    };
    // A crash of the tool itself (a Python runtime error, no finding) is run again
    // once; a finding never is.
    let mut output = schemathesis().output().await.expect("schemathesis starts");
    let text = |output: &std::process::Output| String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success()
        && text(&output).contains("Runtime Error")
        && !text(&output).contains("FAILURES")
    {
        eprintln!("schemathesis crashed; running it again:\n{}", text(&output));
        output = schemathesis().output().await.expect("schemathesis starts");
    }
    let report = text(&output);
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{report}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Stateful"), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_client_creates_a_webhook_and_reads_its_deliveries() {
    let nats = NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("client.yaml");
    std::fs::write(
        &settings,
        "post_hooks: []\nproject_name_override: herald-client\npackage_name_override: herald_client\n",
    )
    .unwrap();
    let package = dir.path().join("herald_client");
    run(
        Command::new(tool("openapi-python-client"))
            .arg("generate")
            .arg("--path")
            .arg(committed_document())
            .arg("--config")
            .arg(&settings)
            .arg("--output-path")
            .arg(&package)
            .args(["--meta", "none"]),
        "openapi-python-client",
    )
    .await;
    let report = run(
        Command::new(tool("python"))
            .arg(workspace_root().join("tests/contract/client_check.py"))
            .arg(dir.path())
            .arg(&herald.base_url)
            .arg(API_KEY)
            .arg(receiver.url("/generated")),
        "the generated client",
    )
    .await;
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["status"], "success", "{report}");
    assert_eq!(receiver.received().len(), 1);
}
