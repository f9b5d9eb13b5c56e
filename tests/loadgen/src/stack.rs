//! The system under test, as child processes in one temporary directory: a
//! [`Broker`] (`nats-server` with JetStream on a port it picks itself), and Herald —
//! `herald all`, or the four services as processes of their own, each with its own
//! `HERALD_HTTP_ADDR`. Every process is killed, and the directory removed, on drop.
//! The bare yardsticks start a [`Broker`] alone.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::procstat::Watched;
use crate::{API_KEY, Error, Result, SECRET_KEY, TENANT};

/// How Herald runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `herald all`: one process.
    All,
    /// `herald ingest|dispatcher|retry-scheduler|status-tracker`: four processes.
    Split,
}

/// How JetStream writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// The server's default: fsync every 2 minutes.
    Default,
    /// `sync_interval: always`: fsync before every ack.
    Always,
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layout::All => "all",
            Layout::Split => "split",
        })
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Durability::Default => "default",
            Durability::Always => "always",
        })
    }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct StackConfig {
    pub herald: PathBuf,
    pub nats_server: PathBuf,
    pub layout: Layout,
    pub durability: Durability,
    /// More environment for every Herald process (e.g. `HERALD_MAX_IN_FLIGHT`).
    pub env: Vec<(String, String)>,
}

/// A child process, killed on drop.
struct Process {
    name: String,
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running nats-server with its JetStream store in a temporary directory.
pub struct Broker {
    // Dropped in order: the server, then its directory.
    nats: Process,
    url: String,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts `nats_server` with JetStream writing to disk as `durability` says.
    pub async fn start(nats_server: &Path, durability: Durability) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(Error::io("temporary directory"))?;
        let (nats, url) = start_nats(nats_server, durability, dir.path()).await?;
        Ok(Broker { nats, url, dir })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server process, to measure.
    pub fn process(&self) -> Watched {
        Watched {
            name: self.nats.name.clone(),
            pid: Some(self.nats.child.id()),
        }
    }

    /// The temporary directory, which lives as long as the broker.
    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// A running nats-server and Herald.
pub struct Stack {
    // Dropped in order: Herald, then the broker and its directory.
    herald: Vec<(Process, String)>,
    broker: Broker,
}

const SERVICES: [&str; 4] = ["status-tracker", "retry-scheduler", "dispatcher", "ingest"];

impl Stack {
    /// Starts nats-server, then Herald, and waits until every Herald process answers
    /// `GET /readyz` with 200.
    pub async fn start(config: &StackConfig) -> Result<Self> {
        let broker = Broker::start(&config.nats_server, config.durability).await?;
        let services: &[&str] = match config.layout {
            Layout::All => &["all"],
            Layout::Split => &SERVICES,
        };
        let mut herald = Vec::new();
        for service in services {
            let addr = free_addr()?;
            let process = spawn_herald(config, service, &addr, broker.url(), broker.dir())?;
            herald.push((process, format!("http://{addr}")));
        }
        let mut stack = Stack { herald, broker };
        stack.wait_ready().await?;
        Ok(stack)
    }

    pub fn nats_url(&self) -> &str {
        self.broker.url()
    }

    /// The base URL of the public API (ingest's listener).
    pub fn api_url(&self) -> &str {
        let ingest = self
            .herald
            .iter()
            .find(|(p, _)| p.name == "herald ingest" || p.name == "herald all");
        ingest.map_or("", |(_, url)| url.as_str())
    }

    /// Every process of the stack, to measure.
    pub fn processes(&self) -> Vec<Watched> {
        let mut all: Vec<Watched> = self
            .herald
            .iter()
            .map(|(p, _)| Watched {
                name: p.name.clone(),
                pid: Some(p.child.id()),
            })
            .collect();
        all.push(self.broker.process());
        all
    }

    async fn wait_ready(&mut self) -> Result<()> {
        crate::init_crypto();
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        for index in 0..self.herald.len() {
            let url = format!("{}/readyz", self.herald[index].1);
            loop {
                let ready = http.get(&url).send().await;
                if ready.is_ok_and(|r| r.status().is_success()) {
                    break;
                }
                let (process, _) = &mut self.herald[index];
                if let Ok(Some(status)) = process.child.try_wait() {
                    let log = tail(&self.broker.dir().join(log_name(&process.name)));
                    return Err(Error::Start {
                        what: process.name.clone(),
                        reason: format!("exited with {status}: {log}"),
                    });
                }
                if Instant::now() > deadline {
                    return Err(Error::Timeout(format!("{url} to answer 200")));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

async fn start_nats(
    binary: &Path,
    durability: Durability,
    dir: &Path,
) -> Result<(Process, String)> {
    let ports = dir.join("ports");
    std::fs::create_dir_all(&ports).map_err(Error::io("ports directory"))?;
    let sync = match durability {
        Durability::Default => "",
        Durability::Always => "\n  sync_interval: always",
    };
    // Herald refuses a server whose max_payload cannot carry 1 MiB events.
    let conf = format!(
        "max_payload: 8MB\njetstream {{\n  store_dir: \"{}\"{sync}\n}}\n",
        dir.join("nats").display()
    );
    let conf_path = dir.join("nats.conf");
    std::fs::write(&conf_path, conf).map_err(Error::io("nats.conf"))?;
    let child = Command::new(binary)
        .arg("-c")
        .arg(&conf_path)
        .args(["-a", "127.0.0.1", "-p", "-1", "--ports_file_dir"])
        .arg(&ports)
        .arg("-l")
        .arg(dir.join("nats-server.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| Error::Start {
            what: binary.display().to_string(),
            reason: e.to_string(),
        })?;
    let process = Process {
        name: "nats-server".into(),
        child,
    };
    let port = read_port(&ports).await?;
    Ok((process, format!("nats://127.0.0.1:{port}")))
}

/// The port nats-server chose, from the file it writes in `--ports_file_dir`.
async fn read_port(dir: &Path) -> Result<u16> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = std::fs::read_dir(dir)
            .ok()
            .into_iter()
            .flatten()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().ends_with(".ports"));
        if let Some(entry) = found
            && let Ok(text) = std::fs::read_to_string(entry.path())
            && let Ok(ports) = serde_json::from_str::<serde_json::Value>(&text)
            && let Some(url) = ports["nats"][0].as_str()
            && let Some(port) = url.rsplit(':').next().and_then(|p| p.parse().ok())
        {
            return Ok(port);
        }
        if Instant::now() > deadline {
            return Err(Error::Timeout("nats-server to report its port".into()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn spawn_herald(
    config: &StackConfig,
    service: &str,
    addr: &str,
    nats_url: &str,
    dir: &Path,
) -> Result<Process> {
    let name = format!("herald {service}");
    let log = std::fs::File::create(dir.join(log_name(&name))).map_err(Error::io("log file"))?;
    let log_err = log.try_clone().map_err(Error::io("log file"))?;
    let database = format!("sqlite://{}?mode=rwc", dir.join("herald.db").display());
    let mut command = Command::new(&config.herald);
    command
        .arg(service)
        .env_clear()
        .env("HERALD_NATS_URL", nats_url)
        .env("HERALD_HTTP_ADDR", addr)
        .env("HERALD_API_KEYS", format!("{TENANT}:{API_KEY}"))
        .env("HERALD_SECRET_KEY", SECRET_KEY)
        .env("HERALD_ALLOWED_TARGETS", "127.0.0.0/8")
        .env("DATABASE_URL", database)
        // The benchmark sends thousands of requests a second with one key.
        .env("HERALD_API_RATE_LIMIT", "0")
        .env("RUST_LOG", "warn")
        .envs(config.env.iter().map(|(k, v)| (k, v)))
        .stdout(log)
        .stderr(log_err);
    let child = command.spawn().map_err(|e| Error::Start {
        what: config.herald.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(Process { name, child })
}

fn log_name(process: &str) -> String {
    format!("{}.log", process.replace(' ', "-"))
}

/// A loopback address nobody listens on right now.
fn free_addr() -> Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::io("a free port"))?;
    let addr = listener.local_addr().map_err(Error::io("a free port"))?;
    Ok(addr.to_string())
}

/// The end of a log file, for an error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let start = text.len().saturating_sub(600);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].trim().to_owned()
}

/// The nats-server to use when none is named: `HERALD_TEST_NATS_SERVER` (set by
/// `make test`), or the pinned one the Makefile installs under `<workspace>/.tools/`.
pub fn locate_nats_server(workspace: &Path) -> Option<PathBuf> {
    if let Ok(path) = std::env::var("HERALD_TEST_NATS_SERVER")
        && !path.is_empty()
    {
        return Some(PathBuf::from(path));
    }
    std::fs::read_dir(workspace.join(".tools"))
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin/nats-server"))
        .find(|p| p.exists())
}
