//! What each command reads from the environment: the settings of the services it
//! runs, as each service declares them, the command line's own (the API it talks
//! to, its key), and README's configuration reference written from them.

use herald_common::config::Setting;
use herald_common::config::reference::{self, Service};
use herald_common::config::shared;

use crate::Mode;

/// The services, each with every setting it reads, in the order the reference
/// lists them.
pub fn services() -> [(Mode, &'static str, Vec<&'static Setting>); 4] {
    [
        (Mode::Ingest, herald_ingest::config::settings()),
        (Mode::Dispatcher, herald_dispatcher::config::settings()),
        (
            Mode::RetryScheduler,
            herald_retry_scheduler::config::settings(),
        ),
        (
            Mode::StatusTracker,
            herald_status_tracker::config::settings(),
        ),
    ]
    .map(|(mode, settings)| (mode, mode.as_str(), settings))
}

/// Every setting `herald <mode>` reads, each once: the shared ones first.
pub fn settings(mode: Mode) -> Vec<&'static Setting> {
    let mut all: Vec<&'static Setting> = Vec::new();
    for (service, _, settings) in services() {
        if mode == service || mode == Mode::All {
            for setting in settings {
                if !all.iter().any(|s| s.name == setting.name) {
                    all.push(setting);
                }
            }
        }
    }
    all
}

/// `--url`: the Herald API the command line talks to.
pub const URL: Setting = Setting::new(
    "HERALD_URL",
    "the Herald API `herald send`, `deliveries`, `webhooks` and `listen` talk to (`--url`)",
)
.default("http://127.0.0.1:8080");
/// `--api-key`: the bearer key of the command line's calls.
pub const API_KEY: Setting = Setting::new(
    "HERALD_API_KEY",
    "API key of the command line's calls (`--api-key`); it decides the tenant",
)
.unset("the calls are refused")
.more("One of the keys of `HERALD_API_KEYS`, without its tenant");
/// `--tenant`: whose subject `herald send --nats` publishes on.
pub const TENANT: Setting = Setting::new(
    "HERALD_TENANT",
    "tenant `herald send --nats` publishes for, on `ingest.<tenant>.<event_type>` (`--tenant`)",
)
.unset("`herald send --nats` refuses to run")
.more(
    "`herald send --nats` also reads `HERALD_NATS_URL` and the NATS credential and TLS \
     settings above, as the services do",
);

/// The command line's own settings, in the order the reference lists them.
pub fn client() -> [&'static Setting; 3] {
    [&URL, &API_KEY, &TENANT]
}

/// What `herald send --nats` reads besides the command line's own settings: how
/// to reach and authenticate to NATS, as the services do.
pub fn nats() -> [&'static Setting; 9] {
    [
        &shared::NATS_URL,
        &shared::NATS_CREDS,
        &shared::NATS_NKEY_SEED,
        &shared::NATS_USER,
        &shared::NATS_PASSWORD,
        &shared::NATS_TOKEN,
        &shared::NATS_TLS_CA,
        &shared::NATS_TLS_CERT,
        &shared::NATS_TLS_KEY,
    ]
}

/// README's configuration reference (between its `config:begin` and `config:end`
/// markers), in Markdown.
pub fn reference() -> String {
    let services = services();
    let services: Vec<Service<'_>> = services
        .iter()
        .map(|(_, name, settings)| Service {
            name,
            settings: settings.as_slice(),
        })
        .collect();
    format!(
        "{}\n{}",
        reference::markdown(&services),
        reference::markdown_group("Command line", &client())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_lists_what_it_reads() {
        let names = |mode| -> Vec<&str> { settings(mode).iter().map(|s| s.name).collect() };
        let all = names(Mode::All);
        assert_eq!(all.first(), Some(&"HERALD_NATS_URL"));
        for (mode, _, own) in services() {
            let listed = names(mode);
            assert_eq!(listed.len(), own.len(), "{mode:?} lists a setting twice");
            assert!(listed.iter().all(|name| all.contains(name)));
        }
        assert!(names(Mode::Ingest).contains(&"HERALD_API_KEYS"));
        assert!(!names(Mode::Dispatcher).contains(&"HERALD_API_KEYS"));
        assert!(names(Mode::Dispatcher).contains(&"HERALD_SECRET_KEY"));
        assert!(names(Mode::StatusTracker).contains(&"DATABASE_URL"));
        for setting in client() {
            assert!(
                !all.contains(&setting.name),
                "{} is the command line's",
                setting.name
            );
            assert!(
                !setting.doc.contains('\n') && !setting.doc.ends_with('.'),
                "{}: one line, as a table cell reads it",
                setting.name
            );
        }
        for setting in nats() {
            assert!(
                all.contains(&setting.name),
                "{} is the services'",
                setting.name
            );
        }
    }
}
