//! `herald send <event_type>`: a test event (or `--count` of them) through the
//! API's `POST /v1/events`, or with `--nats` on `ingest.<tenant>.<event_type>` as
//! job producers publish it. Several events go out a few at a time, with a
//! progress bar on a terminal, and end with their count and rate.

use std::io::Read;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use herald_common::config::Env;
use herald_common::nats_auth::{NatsAuth, redact_url, server_addrs};
use herald_model::{EventAccepted, EventId};
use herald_proto::names::subject;
use herald_proto::pattern::EventType;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{Client, Error, Outcome, Output, Result};
use crate::cli::SendArgs;
use crate::settings;

/// Events in flight at once with `--count`.
const IN_FLIGHT: usize = 16;
/// The largest `--data` read from a file or stdin: more than any event may be.
const MAX_DATA_BYTES: u64 = 16 << 20;

/// The body of one event, as `POST /v1/events` and the NATS intake take it.
#[derive(Serialize)]
struct EventBody<'a> {
    /// Left out over NATS: the subject names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    event_type: Option<&'a str>,
    data: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_id: Option<&'a str>,
}

/// One event sent: its id over HTTP; the stream and sequence that hold it over
/// NATS (Herald derives its id from them unless `--event-id` gave one).
#[derive(Debug, Serialize)]
struct Sent {
    #[serde(skip_serializing_if = "Option::is_none")]
    event_id: Option<EventId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sequence: Option<u64>,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct Summary {
    /// `http` or `nats`.
    transport: &'static str,
    /// The NATS subject, over NATS.
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    sent: usize,
    seconds: f64,
    per_second: f64,
    events: Vec<Sent>,
}

/// Where the events go.
enum Target {
    Http(Client),
    Nats {
        jetstream: async_nats::jetstream::Context,
        subject: String,
    },
}

pub async fn run(args: SendArgs, env: &dyn Env) -> Result<Outcome> {
    let event_type = EventType::parse(&args.event_type).map_err(|reason| Error::Invalid {
        what: "the event type",
        reason: reason.to_string(),
    })?;
    if args.event_id.is_some() && args.count > 1 {
        return Err(Error::Invalid {
            what: "--event-id",
            reason: "names one event; leave it out with --count".to_owned(),
        });
    }
    let data = read_data(&args.data)?;
    let output = Output::new(args.client.json);
    let (target, body) = if args.nats {
        let tenant = tenant(&args, env)?;
        let body = EventBody {
            event_type: None,
            data: &data,
            event_id: args.event_id.as_deref(),
            job_id: args.job_id.as_deref(),
        };
        let subject = format!("{}.{tenant}.{event_type}", subject::INGEST);
        let jetstream = async_nats::jetstream::new(connect(env).await?);
        (Target::Nats { jetstream, subject }, body)
    } else {
        let body = EventBody {
            event_type: Some(event_type.as_str()),
            data: &data,
            event_id: args.event_id.as_deref(),
            job_id: args.job_id.as_deref(),
        };
        (Target::Http(Client::new(&args.client, env)?), body)
    };
    let body = Bytes::from(serde_json::to_vec(&body).expect("an event body serialises"));

    let count = args.count as usize;
    let progress = progress_bar(count);
    let started = Instant::now();
    let mut events = Vec::with_capacity(count);
    let mut sends = futures::stream::iter(0..count)
        .map(|_| target.send(body.clone()))
        .buffer_unordered(IN_FLIGHT);
    while let Some(sent) = sends.next().await {
        events.push(sent?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let summary = Summary {
        transport: target.transport(),
        subject: target.subject(),
        sent: events.len(),
        seconds,
        per_second: events.len() as f64 / seconds.max(1e-6),
        events,
    };
    if output.json {
        output.json(&summary)?;
    } else {
        output.line(&summary.text())?;
    }
    Ok(Outcome::Success)
}

impl Target {
    async fn send(&self, body: Bytes) -> Result<Sent> {
        match self {
            Target::Http(client) => {
                let accepted: EventAccepted =
                    client.post_raw("/v1/events", body.to_vec()).await?.json()?;
                Ok(Sent {
                    event_id: Some(accepted.event_id),
                    stream: None,
                    sequence: None,
                })
            }
            Target::Nats { jetstream, subject } => {
                let refused = |reason: String| Error::Publish {
                    subject: subject.clone(),
                    reason,
                };
                let ack = jetstream
                    .publish(subject.clone(), body)
                    .await
                    .map_err(|e| refused(e.to_string()))?
                    .await
                    .map_err(|e| refused(e.to_string()))?;
                Ok(Sent {
                    event_id: None,
                    stream: Some(ack.stream),
                    sequence: Some(ack.sequence),
                })
            }
        }
    }

    fn transport(&self) -> &'static str {
        match self {
            Target::Http(_) => "http",
            Target::Nats { .. } => "nats",
        }
    }

    fn subject(&self) -> Option<String> {
        match self {
            Target::Http(_) => None,
            Target::Nats { subject, .. } => Some(subject.clone()),
        }
    }
}

impl Summary {
    /// One line: the event accepted, or how many went out how fast.
    fn text(&self) -> String {
        match (self.events.as_slice(), &self.subject) {
            (
                [
                    Sent {
                        event_id: Some(id), ..
                    },
                ],
                None,
            ) => format!("accepted {id}"),
            (
                [
                    Sent {
                        stream: Some(stream),
                        sequence: Some(seq),
                        ..
                    },
                ],
                Some(subject),
            ) => {
                format!("published on {subject} ({stream} #{seq})")
            }
            _ => format!(
                "sent {} events in {:.2} s ({:.1} events/s)",
                self.sent, self.seconds, self.per_second
            ),
        }
    }
}

/// A bar on stderr for more than one event; indicatif draws it only on a terminal.
fn progress_bar(count: usize) -> ProgressBar {
    if count <= 1 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(count as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} events, {per_sec}, {elapsed} elapsed")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `--data`: JSON as given, `@file` read from a file, `@-` from stdin.
fn read_data(arg: &str) -> Result<Box<RawValue>> {
    let invalid = |reason: String| Error::Invalid {
        what: "--data",
        reason,
    };
    let text = match arg.strip_prefix('@') {
        None => arg.to_owned(),
        Some(path) => {
            let mut text = String::new();
            let read = if path == "-" {
                std::io::stdin()
                    .take(MAX_DATA_BYTES + 1)
                    .read_to_string(&mut text)
            } else {
                std::fs::File::open(path)
                    .and_then(|file| file.take(MAX_DATA_BYTES + 1).read_to_string(&mut text))
            };
            read.map_err(|e| invalid(format!("cannot read {path}: {e}")))?;
            if text.len() as u64 > MAX_DATA_BYTES {
                return Err(invalid(format!(
                    "{path} is larger than {MAX_DATA_BYTES} bytes"
                )));
            }
            text
        }
    };
    serde_json::from_str(text.trim()).map_err(|e| invalid(format!("not JSON: {e}")))
}

/// `--tenant` or `HERALD_TENANT`, checked as Herald checks a subject's tenant.
fn tenant(args: &SendArgs, env: &dyn Env) -> Result<String> {
    let tenant = args
        .tenant
        .clone()
        .or_else(|| settings::TENANT.get(env))
        .ok_or_else(|| Error::Invalid {
            what: "--nats",
            reason: "needs the tenant to publish for: pass --tenant or set HERALD_TENANT".into(),
        })?;
    herald_proto::ids::check_tenant(&tenant).map_err(|reason| Error::Invalid {
        what: "the tenant",
        reason: reason.to_string(),
    })?;
    Ok(tenant)
}

/// A connection to `HERALD_NATS_URL` with the services' credential and TLS
/// settings.
async fn connect(env: &dyn Env) -> Result<async_nats::Client> {
    let url =
        herald_common::config::shared::NATS_URL.read(env, herald_common::config::setting::text)?;
    let servers = server_addrs(&url)?;
    let auth = NatsAuth::from_env(env, &url)?;
    let shown = redact_url(&url);
    let options = async_nats::ConnectOptions::new()
        .name("herald-cli")
        .connection_timeout(Duration::from_secs(5));
    auth.apply(options)
        .connect(servers)
        .await
        .map_err(|e| Error::Nats {
            reason: auth.refusal(&shown, &e).unwrap_or_else(|| e.to_string()),
            url: shown,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_json_given_or_read_from_a_file() {
        assert_eq!(read_data("{}").unwrap().get(), "{}");
        assert_eq!(read_data(" [1, 2] ").unwrap().get(), "[1, 2]");
        assert!(read_data("{nope").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.json");
        std::fs::write(&path, "{\"a\": 1}\n").unwrap();
        assert_eq!(
            read_data(&format!("@{}", path.display())).unwrap().get(),
            "{\"a\": 1}"
        );
        let missing = read_data("@/nowhere/data.json").unwrap_err().to_string();
        assert!(
            missing.starts_with("--data: cannot read /nowhere/data.json"),
            "{missing}"
        );
    }
}
