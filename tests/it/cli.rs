//! The `herald` command line, run as users run it: help that names every variable
//! README documents, clap's errors for bad usage, completions, and the client
//! commands (`webhooks`, `send`, `deliveries tail`) against a running Herald, in
//! text and in JSON.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use herald::Mode;
use herald_common::config::reference;
use herald_tests::herald::{API_KEY, TENANT, binary};
use herald_tests::{Herald, NatsServer, PATIENCE, Receiver, eventually};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How one run of the binary ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }

    /// Exit 0 with nothing on stderr.
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// `herald args...` with only `env` in its environment.
async fn herald(args: &[&str], env: &[(&str, &str)]) -> Run {
    let output = tokio::process::Command::new(binary())
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run herald");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// Every variable of README's configuration reference, by the heading of its table.
fn readme_variables() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(herald_tests::workspace_root().join("README.md"))
        .expect("read README.md");
    let start = readme.find(reference::BEGIN).expect("config:begin");
    let end = readme.find(reference::END).expect("config:end");
    let mut heading = String::new();
    let mut variables = Vec::new();
    for line in readme[start..end].lines() {
        if let Some(h) = line.strip_prefix("### ") {
            heading = h.to_owned();
        } else if let Some(row) = line.strip_prefix("| `") {
            let name = row.split('`').next().unwrap();
            variables.push((heading.clone(), name.to_owned()));
        }
    }
    assert!(variables.len() > 40, "README's reference: {variables:?}");
    variables
}

#[tokio::test]
async fn help_describes_every_command_and_every_variable_readme_lists() {
    let top = herald(&["--help"], &[]).await.ok();
    assert!(top.stderr.is_empty(), "{}", top.stderr);
    for command in [
        "all",
        "ingest",
        "dispatcher",
        "retry-scheduler",
        "status-tracker",
        "send",
        "deliveries",
        "webhooks",
        "completions",
    ] {
        assert!(top.stdout.contains(command), "{command}: {}", top.stdout);
    }
    assert!(
        top.stdout.contains("herald <command> --help"),
        "{}",
        top.stdout
    );
    let short = herald(&["-h"], &[]).await.ok();
    assert!(
        short.stdout.contains("Usage: herald <COMMAND>"),
        "{}",
        short.stdout
    );

    let all = herald(&["all", "--help"], &[]).await.ok();
    assert!(all.stdout.contains("Environment:"), "{}", all.stdout);
    assert!(
        all.stdout
            .contains("HERALD_NATS_URL [default: nats://127.0.0.1:4222]"),
        "{}",
        all.stdout
    );
    assert_eq!(herald(&["help", "all"], &[]).await.ok().stdout, all.stdout);
    let send = herald(&["send", "--help"], &[]).await.ok();
    for (heading, name) in readme_variables() {
        if heading == "Command line" {
            assert!(top.stdout.contains(&name), "`herald --help` lacks {name}");
            assert!(
                send.stdout.contains(&name),
                "`herald send --help` lacks {name}"
            );
        } else {
            assert!(
                all.stdout.contains(&name),
                "`herald all --help` lacks {name}"
            );
        }
    }
    for mode in Mode::ALL {
        let help = herald(&[mode.as_str(), "--help"], &[]).await.ok();
        for setting in herald::settings::settings(mode) {
            assert!(
                help.stdout.contains(setting.name),
                "`herald {} --help` lacks {}",
                mode.as_str(),
                setting.name
            );
        }
    }
    // The dispatcher reads no API key; its help does not claim it does.
    let dispatcher = herald(&["dispatcher", "--help"], &[]).await.ok();
    assert!(!dispatcher.stdout.contains("HERALD_API_KEYS"));
    for command in [
        &["webhooks", "create", "--help"][..],
        &["deliveries", "tail", "--help"],
    ] {
        let help = herald(command, &[]).await.ok();
        assert!(help.stdout.contains("--json"), "{command:?}");
        assert!(help.stdout.contains("HERALD_API_KEY"), "{command:?}");
    }
}

#[tokio::test]
async fn bad_usage_gets_clap_s_error_and_exit_2() {
    for args in [
        &["everything"][..],
        &["all", "--bogus"],
        &["send"],
        &["webhooks", "delete"],
        &["deliveries", "tail", "--status", "lost"],
        &["send", "job.done", "--count", "0"],
        &[],
    ] {
        let run = herald(args, &[]).await;
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stderr);
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
        assert!(
            run.stderr.starts_with("error: ") || run.stderr.contains("Usage: herald"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let typo = herald(&["webhoks"], &[]).await;
    assert!(typo.stderr.contains("'webhooks'"), "{}", typo.stderr);
}

#[tokio::test]
async fn version_and_completions() {
    let version = herald(&["--version"], &[]).await.ok();
    assert_eq!(
        version.stdout,
        format!("herald {}\n", env!("CARGO_PKG_VERSION"))
    );
    let bash = herald(&["completions", "bash"], &[]).await.ok();
    assert!(
        bash.stdout.contains("complete -F _herald"),
        "{}",
        bash.stdout
    );
    assert!(bash.stdout.contains("retry-scheduler"));
    let zsh = herald(&["completions", "zsh"], &[]).await.ok();
    assert!(zsh.stdout.starts_with("#compdef herald"), "{}", zsh.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_created_listed_tested_and_deleted_in_text_and_json() {
    let nats = NatsServer::start();
    let herald_ = Herald::start(&nats.url(), &[]).await;
    let receiver = Receiver::start().await;
    let env = [
        ("HERALD_URL", herald_.base_url.as_str()),
        ("HERALD_API_KEY", API_KEY),
    ];
    let endpoint = receiver.url("/hook");

    let text = herald(
        &[
            "webhooks",
            "create",
            &endpoint,
            "--events",
            "job.*,training.>",
            "--description",
            "from the CLI",
        ],
        &env,
    )
    .await
    .ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", text.stdout);
    assert!(lines[0].starts_with("ID "), "{}", text.stdout);
    assert!(lines[1].starts_with("wh_"), "{}", text.stdout);
    assert!(lines[1].contains("job.*,training.>") && lines[1].contains("from the CLI"));
    assert!(lines[2].starts_with("secret: whsec_"), "{}", text.stdout);
    let first = lines[1].split_whitespace().next().unwrap().to_owned();

    let created = herald(
        &[
            "webhooks",
            "create",
            &endpoint,
            "--events",
            "job.done",
            "--json",
            "--secret",
            "a-secret-of-24-characters",
        ],
        &env,
    )
    .await
    .ok()
    .json();
    assert_eq!(created["secret"], "a-secret-of-24-characters");
    assert_eq!(created["events"], json!(["job.done"]));
    let second = created["webhook_id"].as_str().unwrap().to_owned();

    let list = herald(&["webhooks", "list"], &env).await.ok();
    assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);
    assert!(list.stdout.contains(&first) && list.stdout.contains(&second));
    assert!(!list.stdout.contains("whsec_"), "no secret in a list");
    let list = herald(&["webhooks", "list", "--json"], &env)
        .await
        .ok()
        .json();
    assert_eq!(list["webhooks"].as_array().unwrap().len(), 2, "{list}");

    let tested = herald(&["webhooks", "test", &first], &env).await.ok();
    assert!(
        tested.stdout.starts_with("delivered: HTTP 200 in "),
        "{}",
        tested.stdout
    );
    receiver.respond_with(&[500]);
    let failed = herald(&["webhooks", "test", &first, "--json"], &env).await;
    assert_eq!(
        failed.code,
        Some(1),
        "a failed test exits 1: {}",
        failed.stderr
    );
    let result = failed.json();
    assert_eq!(
        (result["success"].clone(), result["status_code"].clone()),
        (json!(false), json!(500))
    );
    assert_eq!(receiver.received().len(), 2);

    let deleted = herald(&["webhooks", "delete", &first], &env).await.ok();
    assert_eq!(deleted.stdout, format!("deleted {first}\n"));
    let deleted = herald(&["webhooks", "delete", &second, "--json"], &env)
        .await
        .ok()
        .json();
    assert_eq!(deleted, json!({"webhook_id": second, "deleted": true}));
    let list = herald(&["webhooks", "list", "--json"], &env)
        .await
        .ok()
        .json();
    assert_eq!(list, json!({"webhooks": []}));

    // Errors: one line on stderr, a non-zero exit.
    let missing = herald(&["webhooks", "delete", &first], &env).await;
    assert_eq!(missing.code, Some(1));
    assert_eq!(missing.stderr.lines().count(), 1, "{}", missing.stderr);
    assert!(
        missing.stderr.ends_with("(not_found, HTTP 404)\n"),
        "{}",
        missing.stderr
    );
    let wrong_key = herald(
        &["webhooks", "list", "--api-key", "not-a-key-of-this-herald"],
        &env,
    )
    .await;
    assert_eq!(wrong_key.code, Some(1));
    assert!(wrong_key.stdout.is_empty());
    assert_eq!(wrong_key.stderr.lines().count(), 1, "{}", wrong_key.stderr);
    assert!(
        wrong_key.stderr.starts_with("herald: ")
            && wrong_key.stderr.ends_with("(unauthorized, HTTP 401)\n"),
        "{}",
        wrong_key.stderr
    );
    let no_key = herald(&["webhooks", "list"], &env[..1]).await;
    assert_eq!(no_key.code, Some(1));
    assert!(
        no_key.stderr.contains("HERALD_API_KEY"),
        "{}",
        no_key.stderr
    );
    let nobody = format!("http://127.0.0.1:{}", herald_tests::free_port());
    let unreachable = herald(&["webhooks", "list", "--url", &nobody], &env).await;
    assert_eq!(unreachable.code, Some(1));
    assert_eq!(
        unreachable.stderr.lines().count(),
        1,
        "{}",
        unreachable.stderr
    );
    assert!(
        unreachable.stderr.contains("cannot reach Herald"),
        "{}",
        unreachable.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_sent_over_http_and_nats_show_in_the_delivery_log_in_text_and_json() {
    let nats = NatsServer::start();
    let herald_ = Herald::start(&nats.url(), &[]).await;
    let receiver = Receiver::start().await;
    let webhook = herald_
        .api()
        .create_webhook(&receiver.url("/"), &["job.*"])
        .await;
    let webhook_id = webhook["webhook_id"].as_str().unwrap().to_owned();
    let nats_url = nats.url();
    let env = [
        ("HERALD_URL", herald_.base_url.as_str()),
        ("HERALD_API_KEY", API_KEY),
        ("HERALD_NATS_URL", nats_url.as_str()),
    ];

    let one = herald(
        &[
            "send",
            "job.completed",
            "--data",
            r#"{"n": 1}"#,
            "--job-id",
            "job_cli",
        ],
        &env,
    )
    .await
    .ok();
    let http_id = one
        .stdout
        .strip_prefix("accepted ")
        .unwrap_or_else(|| panic!("{}", one.stdout))
        .trim()
        .to_owned();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.json");
    std::fs::write(&data, r#"{"from": "a file"}"#).unwrap();
    let summary = herald(
        &[
            "send",
            "job.started",
            "--data",
            &format!("@{}", data.display()),
            "--event-id",
            "cli-evt-1",
            "--json",
        ],
        &env,
    )
    .await
    .ok()
    .json();
    assert_eq!(summary["transport"], "http");
    assert_eq!(summary["events"], json!([{"event_id": "cli-evt-1"}]));
    let five = herald(&["send", "job.progress", "--count", "5", "--json"], &env)
        .await
        .ok()
        .json();
    assert_eq!(five["sent"], 5);
    assert!(five["per_second"].as_f64().unwrap() > 0.0, "{five}");
    let ids: BTreeSet<&str> = five["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "{five}");
    let rate = herald(&["send", "job.progress", "--count", "5"], &env)
        .await
        .ok();
    assert!(
        rate.stdout.starts_with("sent 5 events in ") && rate.stdout.ends_with(" events/s)\n"),
        "{}",
        rate.stdout
    );

    let over_nats = herald(&["send", "job.failed", "--nats", "--tenant", TENANT], &env)
        .await
        .ok();
    assert!(
        over_nats
            .stdout
            .starts_with("published on ingest.acme.job.failed (INGEST #"),
        "{}",
        over_nats.stdout
    );
    let mut nats_env = env.to_vec();
    nats_env.push(("HERALD_TENANT", TENANT));
    let nats_five = herald(
        &[
            "send",
            "job.failed",
            "--nats",
            "--count",
            "5",
            "--json",
            "--data",
            "[1]",
        ],
        &nats_env,
    )
    .await
    .ok()
    .json();
    assert_eq!(
        (nats_five["transport"].clone(), nats_five["sent"].clone()),
        (json!("nats"), json!(5))
    );
    assert_eq!(nats_five["subject"], "ingest.acme.job.failed");
    let no_tenant = herald(&["send", "job.failed", "--nats"], &env).await;
    assert_eq!(no_tenant.code, Some(1));
    assert!(
        no_tenant.stderr.contains("HERALD_TENANT"),
        "{}",
        no_tenant.stderr
    );

    // 1 + 1 + 5 + 5 over HTTP, 1 + 5 over NATS.
    let total = 18;
    let received = receiver.wait_for(total, PATIENCE).await;
    let first = received
        .iter()
        .map(|r| r.json())
        .find(|body| body["event_id"] == http_id.as_str())
        .expect("the first event delivered");
    assert_eq!(first["data"], json!({"n": 1}));

    // The log, once every delivery is recorded as delivered.
    let text = eventually(PATIENCE, "every delivery in the log", || async move {
        let run = herald(&["deliveries", "tail", "--once"], &env).await.ok();
        let done = run
            .stdout
            .lines()
            .filter(|l| l.contains("  success  "))
            .count();
        (done == total).then_some(run.stdout)
    })
    .await;
    let line = text
        .lines()
        .find(|line| line.contains(&http_id))
        .expect("the first event's delivery");
    assert!(
        line.contains(" 200  ") && line.contains(&webhook_id) && line.contains("job.completed"),
        "{line}"
    );
    let lines = herald(
        &[
            "deliveries",
            "tail",
            "--once",
            "--json",
            "--webhook",
            &webhook_id,
        ],
        &env,
    )
    .await
    .ok()
    .json_lines();
    assert_eq!(lines.len(), total);
    assert!(
        lines
            .iter()
            .all(|d| d["status"] == "success" && d["webhook_id"] == webhook_id.as_str())
    );
    let event_types: BTreeSet<&str> = lines
        .iter()
        .map(|d| d["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        event_types,
        BTreeSet::from(["job.completed", "job.started", "job.progress", "job.failed"])
    );
    let none = herald(
        &["deliveries", "tail", "--once", "--status", "failed"],
        &env,
    )
    .await
    .ok();
    assert_eq!(none.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_follows_new_deliveries_as_they_are_made() {
    let nats = NatsServer::start();
    let herald_ = Herald::start(&nats.url(), &[]).await;
    let receiver = Receiver::start().await;
    herald_
        .api()
        .create_webhook(&receiver.url("/"), &["job.*"])
        .await;
    let mut tail = tokio::process::Command::new(binary())
        .args(["deliveries", "tail", "--json"])
        .env_clear()
        .env("HERALD_URL", &herald_.base_url)
        .env("HERALD_API_KEY", API_KEY)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start herald deliveries tail");
    let mut lines = BufReader::new(tail.stdout.take().unwrap()).lines();

    let sent = herald_
        .api()
        .post("/v1/events", json!({"event_type": "job.done", "data": {}}))
        .await
        .1;
    let event_id = sent["event_id"].as_str().unwrap();
    // Printed when first seen, and again when its status changes: ends `success`.
    let last = tokio::time::timeout(PATIENCE, async {
        loop {
            let line = lines.next_line().await.unwrap().expect("tail runs on");
            let delivery: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(delivery["event_id"], event_id);
            if delivery["status"] == "success" {
                return delivery;
            }
        }
    })
    .await
    .expect("the delivery shows in the tail");
    assert_eq!(last["status_code"], 200);
    // Nothing more happens, so nothing more is printed.
    let quiet = tokio::time::timeout(Duration::from_millis(2500), lines.next_line()).await;
    assert!(quiet.is_err(), "{quiet:?}");
    assert_eq!(tail.try_wait().unwrap(), None, "tail follows until stopped");
}
