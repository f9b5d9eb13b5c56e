//! The settings each service declares are the variables it reads, and README's
//! configuration reference is the one written from them.
//!
//! After changing a setting, regenerate README's reference with
//! `UPDATE_README=1 cargo test -p herald --test config_reference`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use herald::Mode;
use herald::settings::{reference, services, settings};
use herald_common::config::{Env, MapEnv, reference as markers};

/// An environment that remembers every variable asked for.
struct Recording {
    vars: MapEnv,
    asked: Mutex<BTreeSet<String>>,
}

impl Env for Recording {
    fn var(&self, key: &str) -> Option<String> {
        self.asked.lock().unwrap().insert(key.to_owned());
        self.vars.var(key)
    }
}

/// The variables `load` asks for, given a valid configuration.
fn asked(load: impl Fn(&dyn Env) -> bool) -> BTreeSet<String> {
    let env = Recording {
        vars: MapEnv::new([
            ("HERALD_API_KEYS", "acme:acme-key-0123456789"),
            (
                "HERALD_SECRET_KEY",
                "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            ),
        ]),
        asked: Mutex::default(),
    };
    assert!(load(&env), "the configuration is valid");
    let mut asked = env.asked.into_inner().unwrap();
    // Read for the dispatcher's default replica id, not a setting of Herald's.
    asked.remove("HOSTNAME");
    asked
}

#[test]
fn each_service_declares_exactly_the_variables_it_reads() {
    for (mode, name, _) in services() {
        let read = asked(|env| match mode {
            Mode::Ingest => herald_ingest::Config::from_env(env).is_ok(),
            Mode::Dispatcher => herald_dispatcher::Config::from_env(env).is_ok(),
            Mode::RetryScheduler => herald_retry_scheduler::Config::from_env(env).is_ok(),
            Mode::StatusTracker => herald_status_tracker::Config::from_env(env).is_ok(),
            Mode::All => unreachable!(),
        });
        let declared: BTreeSet<String> = settings(mode)
            .iter()
            .map(|s| s.name.to_owned())
            // Read by the log set-up, from the process environment.
            .filter(|name| name != "RUST_LOG")
            .collect();
        assert_eq!(read, declared, "{name}: read, and declared");
    }
}

#[test]
fn every_default_and_bound_is_a_value_the_setting_takes() {
    // Each service's configuration from an empty environment (but the required
    // variables) reads every default and every bound; a bad one is an error.
    for mode in [
        Mode::Ingest,
        Mode::Dispatcher,
        Mode::RetryScheduler,
        Mode::StatusTracker,
    ] {
        asked(|env| herald::Configs::load(&[mode], env).is_ok());
    }
    for setting in settings(Mode::All) {
        assert!(!setting.doc.is_empty(), "{}", setting.name);
        assert!(
            !setting.doc.contains('\n') && !setting.doc.ends_with('.'),
            "{}: one line, as a table cell reads it",
            setting.name
        );
    }
}

#[test]
fn readme_holds_the_reference_written_from_the_settings() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(&path).expect("read README.md");
    let want = markers::replace(&readme, &reference()).unwrap_or_else(|| {
        panic!(
            "README.md has no `{}` ... `{}` markers around its configuration reference",
            markers::BEGIN,
            markers::END
        )
    });
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&path, &want).expect("write README.md");
        return;
    }
    if readme != want {
        let diff: Vec<String> = want
            .lines()
            .zip(readme.lines())
            .filter(|(want, have)| want != have)
            .take(3)
            .map(|(want, have)| format!("  README: {have}\n  wanted: {want}"))
            .collect();
        panic!(
            "README.md's configuration reference differs from the settings' \
             declarations; regenerate it with \
             `UPDATE_README=1 cargo test -p herald --test config_reference`.\n{}",
            diff.join("\n")
        );
    }
}
