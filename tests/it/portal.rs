//! The customer portal in a real browser: tests/portal/scenario.py drives
//! Debian's Chromium through Playwright against a live Herald (its event
//! catalogue and its branding set), signing in through links made with the
//! API keys of two tenants. The browser and Playwright are installed by
//! tests/portal/install.sh (`make test` runs it). With `HERALD_PORTAL_SCREENSHOTS`
//! set to a folder (relative to the workspace root), the scenario saves its
//! screenshots there.

use std::io::Read;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use herald_tests::herald::{API_KEY, OTHER_API_KEY};
use herald_tests::{Herald, NatsServer, workspace_root};
use tokio::process::Command;

/// How long the whole scenario may take.
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

/// A catalogue of three job types, each with a description, a schema and an
/// example, for the portal's event-type pages and its webhook form.
const CATALOGUE: &str = r#"event_types:
  - name: job.queued
    description: A job was accepted and waits for capacity.
    schema:
      type: object
      required: [jobId, jobType]
      properties:
        jobId: {type: string}
        jobType: {type: string}
    example: {jobId: "job_8f2c", jobType: "image-generation"}
  - name: job.completed
    description: A job finished; data.results holds what it produced.
    schema:
      type: object
      required: [jobId, jobType, results]
      properties:
        jobId: {type: string}
        jobType: {type: string}
        results: {}
    example: {jobId: "job_8f2c", jobType: "image-generation", results: {images: ["https://cdn.example.com/a.png"]}}
  - name: job.failed
    description: A job failed; data.errorCode says why.
    schema:
      type: object
      required: [jobId, errorCode]
      properties:
        jobId: {type: string}
        errorCode: {type: string}
        message: {type: string}
    example: {jobId: "job_8f2c", errorCode: "GPU_OOM", message: "out of GPU memory"}
"#;

/// The Python of the virtual environment tests/portal/install.sh makes.
fn browser_python() -> PathBuf {
    let python = workspace_root().join(".tools/browser/bin/python");
    assert!(
        python.is_file() && std::path::Path::new("/usr/bin/chromium").is_file(),
        "the portal's browser tools are not installed ({} and /usr/bin/chromium): \
         run `make test`, or `bash tests/portal/install.sh`",
        python.display()
    );
    python
}

/// Runs `command` for at most `limit`, its stdout and stderr interleaved in one
/// pipe: echoed as they come (shown by the test runner) and returned with how it
/// ended, `None` when it ran out of time and was killed.
async fn run_logged(mut command: Command, limit: Duration) -> (Option<ExitStatus>, String) {
    let (mut reader, writer) = std::io::pipe().expect("a pipe");
    command
        .stdin(Stdio::null())
        .stdout(writer.try_clone().expect("a pipe"))
        .stderr(writer)
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the scenario starts");
    // The command holds the pipe's writing ends: once it is dropped, the reader
    // sees the end of the output when the child (and whatever it left running)
    // has closed them.
    drop(command);
    let echo = tokio::task::spawn_blocking(move || {
        let mut output = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    eprint!("{}", String::from_utf8_lossy(&chunk[..n]));
                    output.extend_from_slice(&chunk[..n]);
                }
            }
        }
        String::from_utf8_lossy(&output).into_owned()
    });
    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => Some(status.expect("wait for the scenario")),
        Err(_) => {
            // Killing Python closes Playwright's pipe to its driver, which then
            // closes the browser.
            let _ = child.kill().await;
            None
        }
    };
    let output = tokio::time::timeout(Duration::from_secs(30), echo)
        .await
        .map(|read| read.expect("the output reader"))
        .unwrap_or_else(|_| "(its output never ended: a process it started holds it)".into());
    (status, output)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_works_in_a_real_browser() {
    let python = browser_python();
    let scenario = workspace_root().join("tests/portal/scenario.py");
    assert!(scenario.is_file(), "{} is missing", scenario.display());

    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("event-types.yaml");
    std::fs::write(&catalogue, CATALOGUE).unwrap();
    let catalogue = catalogue.to_str().unwrap();
    let herald = Herald::start(
        &nats.url(),
        &[
            ("HERALD_EVENT_TYPES", catalogue),
            ("HERALD_PORTAL_NAME", "Acme Cloud"),
            ("HERALD_PORTAL_COLOR", "#0f766e"),
        ],
    )
    .await;

    let mut command = Command::new(&python);
    command
        .current_dir(workspace_root())
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg(&scenario)
        .args(["--base-url", &herald.base_url])
        .args(["--api-key", API_KEY])
        .args(["--other-api-key", OTHER_API_KEY]);
    if let Some(folder) = std::env::var_os("HERALD_PORTAL_SCREENSHOTS") {
        let folder = workspace_root().join(folder);
        std::fs::create_dir_all(&folder).expect("the screenshots' folder");
        command.arg("--screenshots").arg(folder);
    }
    let (status, output) = run_logged(command, SCENARIO_LIMIT).await;
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!("tests/portal/scenario.py failed ({status}):\n{output}"),
        None => panic!(
            "tests/portal/scenario.py did not finish within {}s:\n{output}",
            SCENARIO_LIMIT.as_secs()
        ),
    }
}
