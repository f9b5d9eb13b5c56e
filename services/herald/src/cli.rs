//! The command line: the service commands (`herald all`, `herald ingest`, ...),
//! the client commands that talk to a running Herald (`send`, `deliveries`,
//! `webhooks`, `listen`) and `completions`. Help is written from the same [`Setting`]
//! declarations as README's configuration reference: each command's help ends with
//! the environment it reads.

use clap::{Args, CommandFactory, Parser, Subcommand};
use herald_common::config::{DefaultValue, Setting};
use herald_model::WebhookId;
use herald_proto::names::DeliveryStatus;

use crate::Mode;
use crate::settings;

/// The widest line the environment sections are wrapped to.
const WIDTH: usize = 90;

#[derive(Debug, Parser)]
#[command(
    name = "herald",
    version,
    about = "Herald delivers webhooks: run its services, or talk to a running Herald",
    long_about = "Herald delivers webhooks: run its services, or talk to a running Herald.\n\n\
                  The service commands read their configuration from the environment; \
                  `herald <command> --help` shows every variable each one reads, with \
                  its default, the values it takes and what it means.",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run all four services in one process (the embedded mode for one machine)
    All,
    /// Run ingest: the REST API and the NATS intake of producers' events
    Ingest,
    /// Run the dispatcher: fan-out of events and HTTP delivery
    Dispatcher,
    /// Run the retry-scheduler: retries held by the broker, disabling endpoints
    RetryScheduler,
    /// Run the status-tracker: the store of deliveries and jobs, and its queries
    StatusTracker,
    /// Publish a test event over HTTP (or NATS with --nats)
    Send(SendArgs),
    /// Follow the delivery log
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Deliveries {
        #[command(subcommand)]
        command: DeliveriesCommand,
    },
    /// List, create, delete and test webhooks
    #[command(subcommand_required = true, arg_required_else_help = true)]
    Webhooks {
        #[command(subcommand)]
        command: WebhooksCommand,
    },
    /// Forward the tenant's deliveries to a local URL, signed as a webhook's (Ctrl-C to stop)
    Listen(ListenArgs),
    /// Print a link that signs the tenant's customer into the portal
    Portal(PortalArgs),
    /// Print a shell completion script
    Completions {
        /// The shell to complete in
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

impl Command {
    /// The service mode of a service command.
    pub fn mode(&self) -> Option<Mode> {
        match self {
            Command::All => Some(Mode::All),
            Command::Ingest => Some(Mode::Ingest),
            Command::Dispatcher => Some(Mode::Dispatcher),
            Command::RetryScheduler => Some(Mode::RetryScheduler),
            Command::StatusTracker => Some(Mode::StatusTracker),
            _ => None,
        }
    }
}

/// The options of every client command: where the API is, the key, the output.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The Herald API to talk to [env: HERALD_URL] [default: http://127.0.0.1:8080]
    #[arg(long, global = true, value_name = "URL")]
    pub url: Option<String>,
    /// The API key, which decides the tenant [env: HERALD_API_KEY]
    #[arg(long, global = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Print JSON (one object, or one per line for a stream) instead of text
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The event's type, such as `job.completed`
    pub event_type: String,
    /// The event's data: JSON, `@file` to read it from a file, or `@-` from stdin
    #[arg(long, default_value = "{}", value_name = "JSON|@FILE")]
    pub data: String,
    /// The job the event belongs to
    #[arg(long)]
    pub job_id: Option<String>,
    /// The event's id (Herald makes one when left out); only with --count 1
    #[arg(long)]
    pub event_id: Option<String>,
    /// Publish on NATS (`ingest.<tenant>.<event_type>`) instead of HTTP
    #[arg(long)]
    pub nats: bool,
    /// The tenant to publish for with --nats [env: HERALD_TENANT]
    #[arg(long, requires = "nats")]
    pub tenant: Option<String>,
    /// How many events to send, with a progress bar and the rate at the end
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Where each delivery is sent: a local http or https URL
    #[arg(long, value_name = "URL")]
    pub forward_to: String,
    /// Event types or patterns, separated by commas (`job.*,training.>`); every event when left out
    #[arg(long, value_delimiter = ',')]
    pub events: Vec<String>,
    /// The signing secret (Herald makes one when left out), so a receiver's configured secret keeps working
    #[arg(long)]
    pub secret: Option<String>,
    /// How long the session lives once this CLI is gone (`60s`, `5m`); the server's default when left out
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// Print each request in full
    #[arg(long)]
    pub print: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct PortalArgs {
    /// How long the link and its session last (`15m`, `1h`); 1 hour when left out
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// A session that may look but change nothing
    #[arg(long)]
    pub read_only: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Print deliveries as they are made and whenever their status changes
    Tail(TailArgs),
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only this webhook's deliveries (default: every webhook of the tenant)
    #[arg(long, value_name = "ID")]
    pub webhook: Option<WebhookId>,
    /// Only deliveries with this status
    #[arg(long, value_parser = delivery_status())]
    pub status: Option<DeliveryStatus>,
    /// Only deliveries made at or after this time (RFC 3339)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Print what is there and exit instead of following
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// A delivery status, as `--status` takes it: one of the words the API shows.
fn delivery_status() -> impl clap::builder::TypedValueParser<Value = DeliveryStatus> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(DeliveryStatus::ALL.map(DeliveryStatus::as_str))
        .map(|word| DeliveryStatus::parse(&word).expect("one of the possible values"))
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List the tenant's webhooks
    List(ClientArgs),
    /// Create a webhook; its secret is shown this once
    Create(CreateArgs),
    /// Delete a webhook
    Delete {
        /// The webhook's id
        id: WebhookId,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Deliver a `webhook.test` event to a webhook now and show the outcome (exit 1 when it fails)
    Test {
        /// The webhook's id
        id: WebhookId,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Where deliveries go: an http or https URL
    #[arg(value_name = "ENDPOINT_URL")]
    pub endpoint: String,
    /// Event types or patterns, separated by commas (`job.*,training.>`)
    #[arg(long, required = true, value_delimiter = ',')]
    pub events: Vec<String>,
    /// What the webhook is for
    #[arg(long)]
    pub description: Option<String>,
    /// The signing secret (Herald makes one when left out)
    #[arg(long)]
    pub secret: Option<String>,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// The command line with its help: each service command's help ends with the
/// environment it reads, each client command's with the command line's own.
pub fn command() -> clap::Command {
    let mut command = Cli::command();
    let header = *command.get_styles().get_header();
    let section = |title: &str, settings: &[&'static Setting]| {
        environment(
            &header.render().to_string(),
            &header.render_reset().to_string(),
            title,
            settings,
        )
    };
    for mode in Mode::ALL {
        let text = section("Environment", &settings::settings(mode));
        command = command.mut_subcommand(mode.as_str(), |sub| sub.after_help(text));
    }
    let [url, api_key, tenant] = settings::client();
    let client = section("Environment", &[url, api_key]);
    let mut send_settings = vec![url, api_key, tenant];
    send_settings.extend(settings::nats());
    let send = section("Environment", &send_settings);
    command = with_client_environment(command, &client, &send);
    let top = format!(
        "`herald <command> --help` shows each command's environment. The client commands \
         (send, deliveries, webhooks, listen) read:\n\n{}",
        section("Environment of the client commands", &settings::client())
    );
    command.after_long_help(top)
}

/// `command` with an environment section on each command below it that takes the
/// client options: `send`'s (it takes `--nats`), or the other client commands'.
fn with_client_environment(mut command: clap::Command, client: &str, send: &str) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_owned())
        .collect();
    for name in names {
        command = command.mut_subcommand(name, |sub| {
            let takes = |id: &str| sub.get_arguments().any(|arg| arg.get_id() == id);
            let text = if takes("nats") {
                Some(send)
            } else if takes("api_key") {
                Some(client)
            } else {
                None
            };
            let sub = match text {
                Some(text) => sub.after_help(text.to_owned()),
                None => sub,
            };
            with_client_environment(sub, client, send)
        });
    }
    command
}

/// An "Environment" section: each setting's name, default and values, then its
/// meaning, indented and wrapped.
fn environment(bold: &str, reset: &str, title: &str, settings: &[&'static Setting]) -> String {
    let mut out = format!("{bold}{title}:{reset}\n");
    for setting in settings {
        let mut line = format!("  {bold}{}{reset}", setting.name);
        match setting.default {
            DefaultValue::Value(value) => line.push_str(&format!(" [default: {value}]")),
            DefaultValue::Required => line.push_str(" [required]"),
            DefaultValue::Unset("") => {}
            DefaultValue::Unset(meaning) => line.push_str(&format!(" [unset: {}]", plain(meaning))),
            DefaultValue::Derived(how) => line.push_str(&format!(" [default: {}]", plain(how))),
        }
        let range = setting.range_text();
        if !range.is_empty() {
            line.push_str(&format!(" [values: {}]", plain(&range)));
        }
        out.push_str(&line);
        out.push('\n');
        for wrapped in wrap(&plain(setting.doc), WIDTH - 10) {
            out.push_str("          ");
            out.push_str(&wrapped);
            out.push('\n');
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// Markdown made plain text: no backticks.
fn plain(text: &str) -> String {
    text.replace('`', "")
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn every_service_command_lists_what_it_reads() {
        let mut command = command();
        for mode in Mode::ALL {
            let help = command
                .find_subcommand_mut(mode.as_str())
                .expect("a subcommand per mode")
                .render_help()
                .to_string();
            for setting in settings::settings(mode) {
                assert!(help.contains(setting.name), "{mode:?}: {}", setting.name);
            }
        }
    }

    #[test]
    fn long_meanings_are_wrapped_between_words() {
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
        assert_eq!(wrap("", 5), Vec::<String>::new());
        assert_eq!(wrap("toolongword x", 4), ["toolongword", "x"]);
    }
}
