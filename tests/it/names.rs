//! Every internal name — subject, stream, consumer, header, status word, record
//! type, built-in event type — is defined once, in `proto/src/names`: none of the
//! strings defined there appears as a literal in a service's code. Test modules
//! may spell names out; the code they test may not.

use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_owned()
}

/// Literals that equal a name by coincidence: (file, literal, what it is instead).
const COINCIDENCES: &[(&str, &str, &str)] = &[
    (
        "services/herald/src/lib.rs",
        "ingest",
        "the command-line mode (`Mode::as_str`), which names the service",
    ),
    (
        "services/herald/src/lib.rs",
        "dispatcher",
        "the command-line mode (`Mode::as_str`), which names the service",
    ),
    (
        "services/herald/src/lib.rs",
        "retry-scheduler",
        "the command-line mode (`Mode::as_str`), which names the service",
    ),
    (
        "services/herald/src/lib.rs",
        "status-tracker",
        "the command-line mode (`Mode::as_str`), which names the service",
    ),
    (
        "services/status-tracker/src/jobs.rs",
        "success",
        "a producer's job status word, not a delivery's",
    ),
    (
        "services/status-tracker/src/jobs.rs",
        "succeeded",
        "a producer's job status word",
    ),
    (
        "services/status-tracker/src/jobs.rs",
        "failed",
        "a producer's job status word, not a delivery's",
    ),
    (
        "services/retry-scheduler/src/scheduler.rs",
        "exhausted",
        "a metric label: why a webhook was disabled",
    ),
    (
        "services/common/src/metrics.rs",
        "events",
        "a metric's name",
    ),
    (
        "services/ingest/src/nats_intake.rs",
        "rejected",
        "a metric label: what became of an offered event",
    ),
    (
        "services/ingest/src/api/events.rs",
        "rejected",
        "a metric label: what became of an offered event",
    ),
    (
        "services/dispatcher/src/config.rs",
        "dispatcher",
        "the replica name when the host has none",
    ),
];

/// The code of a Rust file: its test module (which starts at the first
/// `#[cfg(test)]`) and comment lines left out; `(line number, line)`.
fn code(text: &str) -> Vec<(usize, &str)> {
    text.lines()
        .enumerate()
        .take_while(|(_, line)| line.trim() != "#[cfg(test)]")
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(n, line)| (n + 1, line))
        .collect()
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("readable entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The string of every `const NAME: &str = "…";` in `proto/src/names`.
fn names() -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&workspace().join("proto/src/names"), &mut files);
    let mut names = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable file");
        for (_, line) in code(&text) {
            if let Some((_, rest)) = line.split_once(": &str = \"")
                && let Some((value, _)) = rest.split_once('"')
            {
                names.push(value.to_owned());
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Where `lines` spell out one of `names` as a literal of its own or as the
/// start of a subject (`"events.{tenant}"`, `"events.>"`, `"ingest."`, but not
/// SQL's `"deliveries.status"`): (line number, name). A JSON key (`"events": …`)
/// or index (`view["events"]`) is no use of a name.
fn spelled_out(lines: &[(usize, &str)], names: &[String]) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (number, line) in lines {
        for name in names {
            let whole = format!("\"{name}\"");
            let start = format!("\"{name}.");
            let subject = line.match_indices(&start).any(|(at, _)| {
                matches!(
                    line[at + start.len()..].chars().next(),
                    Some('{' | '>' | '*' | '"')
                )
            });
            let literal = line.match_indices(&whole).any(|(at, _)| {
                let before = line[..at].chars().next_back();
                let after = line[at + whole.len()..].chars().next();
                // An OpenAPI annotation's tag or parameter name is no use either.
                let before_text = line[..at].trim_end();
                let annotation = before_text.ends_with("tag =")
                    || before_text.ends_with("(name =")
                    || line[at + whole.len()..].starts_with(" = ");
                let key =
                    after == Some(':') || (before == Some('[') && after == Some(']')) || annotation;
                !key
            });
            if literal || subject {
                found.push((*number, name.clone()));
            }
        }
    }
    found
}

#[test]
fn no_service_spells_out_an_internal_name() {
    let names = names();
    assert!(
        names.len() > 50,
        "only {} names found: {names:?}",
        names.len()
    );
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join("services"), &mut files);
    let mut offences = Vec::new();
    for file in files {
        let relative = file
            .strip_prefix(&root)
            .expect("under the workspace")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(&file).expect("readable file");
        for (line, name) in spelled_out(&code(&text), &names) {
            let coincidence = COINCIDENCES
                .iter()
                .any(|(path, literal, _)| *path == relative && *literal == name);
            if !coincidence {
                offences.push(format!("{relative}:{line}: \"{name}\""));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "use herald_proto::names instead of spelling these out:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_scan_finds_a_name_spelled_out_and_nothing_else() {
    let names = names();
    for name in [
        "events.>",
        "Herald-Record-Type",
        "herald.dispatch.test",
        "pending",
    ] {
        assert!(
            names.iter().any(|n| n == name),
            "{name} is not in the names"
        );
    }
    let sample = r#"
fn f(tenant: &str) -> String {
    let filter = "events.>";
    let status = "pending";
    let body = json!({"pending": 1});
    let read = view["events"];
    // "webhook.disabled" in a comment is fine
    let key = "deliveries.status";
    format!("outcomes.{tenant}.x")
}
#[cfg(test)]
mod tests {
    const S: &str = "herald.dispatch.test";
}
"#;
    let found: Vec<String> = spelled_out(&code(sample), &names)
        .into_iter()
        .map(|(_, name)| name)
        .collect();
    assert_eq!(found, ["events", "events.>", "pending", "outcomes"]);
}
