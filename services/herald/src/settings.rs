//! What each command reads from the environment: the settings of the services it
//! runs, as each service declares them, and README's configuration reference
//! written from them.

use herald_common::config::Setting;
use herald_common::config::reference::{self, Service};

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
    reference::markdown(&services)
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
    }
}
