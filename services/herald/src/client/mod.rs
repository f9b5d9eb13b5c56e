//! The client commands: `herald send`, `herald deliveries tail` and `herald
//! webhooks ...` call a running Herald's REST API (or publish on NATS) and print
//! readable text, or JSON with `--json`. Every failure is one [`Error`], which
//! `main` prints as one line before exiting 1.
//!
//! Layout: [`Client`] (this file) makes the API calls; `send`, `tail`,
//! `webhooks`, `listen` and `portal` are one command each; `output` writes what they print.

mod listen;
mod output;
mod portal;
mod send;
mod tail;
mod webhooks;

use std::time::Duration;

use herald_common::config::{ConfigError, Env};
use herald_model::ErrorBody;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cli::{ClientArgs, Command, DeliveriesCommand, WebhooksCommand};
use crate::settings;

pub use output::Output;

/// The largest API answer read: well above the largest page of deliveries.
const MAX_ANSWER_BYTES: usize = 16 << 20;
/// How long one call may take: a test delivery may take 40 s.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a client command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Herald refused the call: its `{code, detail}` answer.
    #[error("{detail} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        detail: String,
    },
    #[error("cannot reach Herald at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// An answer that is not what the API documents.
    #[error("unexpected answer from {url} (HTTP {status}): {reason}")]
    Answer {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("no API key: set HERALD_API_KEY or pass --api-key")]
    NoApiKey,
    /// A command-line value that cannot be used.
    #[error("{what}: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("cannot connect to NATS at {url}: {reason}")]
    Nats { url: String, reason: String },
    #[error("NATS did not store the event on {subject}: {reason}")]
    Publish { subject: String, reason: String },
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// Whether a command did what it was asked: a webhook test whose delivery fails
/// ran fine but did not succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
}

/// Runs a client command (not a service command, nor `completions`). Output cut
/// short by its reader (`herald deliveries tail | head`) is no failure.
pub async fn run(command: Command, env: &dyn Env) -> Result<Outcome> {
    match run_command(command, env).await {
        Err(Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Outcome::Success),
        result => result,
    }
}

async fn run_command(command: Command, env: &dyn Env) -> Result<Outcome> {
    match command {
        Command::Send(args) => send::run(args, env).await,
        Command::Listen(args) => listen::run(args, env).await,
        Command::Portal(args) => portal::run(&Client::new(&args.client, env)?, &args).await,
        Command::Deliveries {
            command: DeliveriesCommand::Tail(args),
        } => tail::run(args, env).await,
        Command::Webhooks { command } => {
            let client = |args: &ClientArgs| Client::new(args, env);
            match command {
                WebhooksCommand::List(args) => webhooks::list(&client(&args)?).await,
                WebhooksCommand::Create(args) => {
                    webhooks::create(&client(&args.client)?, &args).await
                }
                WebhooksCommand::Delete { id, client: args } => {
                    webhooks::delete(&client(&args)?, &id).await
                }
                WebhooksCommand::Test { id, client: args } => {
                    webhooks::test(&client(&args)?, &id).await
                }
            }
        }
        _ => unreachable!("not a client command"),
    }
}

/// Calls to one Herald API with one key.
pub struct Client {
    http: reqwest::Client,
    base: url::Url,
    key: String,
    pub output: Output,
}

impl Client {
    /// The client `args` and the environment describe: `--url` or `HERALD_URL`,
    /// `--api-key` or `HERALD_API_KEY`.
    pub fn new(args: &ClientArgs, env: &dyn Env) -> Result<Self> {
        let url = match &args.url {
            Some(url) => url.clone(),
            None => settings::URL.read(env, herald_common::config::setting::text)?,
        };
        let base = url::Url::parse(&url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| Error::Invalid {
                what: "the API URL (--url, HERALD_URL)",
                reason: format!("`{url}` is not an http or https URL"),
            })?;
        let key = args
            .api_key
            .clone()
            .or_else(|| settings::API_KEY.get(env))
            .ok_or(Error::NoApiKey)?;
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("herald-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Unreachable {
                url: url.clone(),
                reason: chain(&e),
            })?;
        Ok(Client {
            http,
            base,
            key,
            output: Output::new(args.json),
        })
    }

    /// The URL of `path` (`/v1/...`) with `query`.
    fn url(&self, path: &str, query: &[(&str, &str)]) -> url::Url {
        let mut url = self.base.clone();
        let prefix = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{prefix}{path}"));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T> {
        let answer = self.call(Method::GET, path, query, None).await?;
        answer.json()
    }

    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: &impl Serialize) -> Result<T> {
        let body = serde_json::to_vec(body).expect("request bodies serialise");
        self.post_raw(path, body).await?.json()
    }

    /// POSTs `body`, JSON already.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> Result<Answer> {
        self.call(Method::POST, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Result<()> {
        self.call(Method::DELETE, path, &[], None).await.map(drop)
    }

    /// One call: a 2xx answer's body, or the API's error as [`Error::Api`].
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let url = self.url(path, query);
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let unreachable = |e: reqwest::Error| Error::Unreachable {
            url: self.base.to_string(),
            reason: chain(&e),
        };
        let mut response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(Error::Answer {
                    url: url.to_string(),
                    status,
                    reason: format!("larger than {MAX_ANSWER_BYTES} bytes"),
                });
            }
            body.extend_from_slice(&chunk);
        }
        let answer = Answer { url, status, body };
        if (200..300).contains(&status) {
            return Ok(answer);
        }
        match serde_json::from_slice::<ErrorBody>(&answer.body) {
            Ok(error) => Err(Error::Api {
                status,
                code: error.code,
                detail: error.detail,
            }),
            Err(_) => Err(answer.unexpected("not an error of Herald's API")),
        }
    }
}

/// A successful answer.
pub struct Answer {
    url: url::Url,
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    /// The body read as `T`, the type the API documents for it.
    pub fn json<T: DeserializeOwned>(self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| self.unexpected(&e.to_string()))
    }

    fn unexpected(&self, reason: &str) -> Error {
        Error::Answer {
            url: self.url.to_string(),
            status: self.status,
            reason: reason.to_owned(),
        }
    }
}

/// An error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}
