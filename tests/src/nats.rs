//! A real `nats-server` for one test: JetStream on, its store in a temporary
//! directory, listening on a port it picks itself (read back from its ports file).
//! Killed, and its store deleted, on drop. It can be restarted on the same port
//! with the same store, to test what survives a broker restart.
//!
//! Tests run it with `max_payload: 8MB`, as `deploy/nats/values.yaml` does, so
//! events of 1 MiB fit; [`NatsServer::start_stock`] keeps the stock 1 MB.
//!
//! [`NatsCluster`] runs three of them as one cluster on loopback, as production
//! does, with a node that can be killed and restarted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct NatsServer {
    binary: PathBuf,
    /// The contents of its `nats.conf`.
    config: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
    port: u16,
    /// Environment variables the server runs with besides the test's own (the
    /// passwords a permission file reads).
    env: Vec<(String, String)>,
    /// `log_file: ...` when the server logs to a file, kept across reloads.
    log_line: String,
    /// Its monitoring port (`/connz`, `/jsz`), when it serves one.
    monitor_port: Option<u16>,
}

impl NatsServer {
    /// Starts the pinned nats-server (see [`binary`]).
    pub fn start() -> Self {
        Self::start_binary(binary())
    }

    /// Starts the pinned nats-server with its stock settings: `max_payload` is
    /// 1 MB.
    pub fn start_stock() -> Self {
        Self::start_configured(binary(), String::new())
    }

    /// Starts the pinned nats-server with `max_payload: 8MB` and `extra` added to its
    /// `nats.conf` (users and permissions, TLS). Files the configuration names can
    /// be put in [`NatsServer::dir`] before or after; see [`NatsServer::reload`].
    pub fn start_with(extra: &str) -> Self {
        Self::start_configured(binary(), format!("max_payload: 8MB\n{extra}\n"))
    }

    /// Starts the pinned nats-server with `extra` added to its `nats.conf`, as
    /// [`NatsServer::start_with`] does, after putting `files` (name, contents) in
    /// its directory for `extra` to `include`, and with `env` in its environment.
    /// It logs to [`NatsServer::log`].
    pub fn start_with_files(extra: &str, files: &[(&str, &str)], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).expect("write a server file");
        }
        let log_line = format!(
            "log_file: {:?}\n",
            dir.path().join("nats.log").display().to_string()
        );
        let mut server = NatsServer {
            binary: binary(),
            config: format!("max_payload: 8MB\n{log_line}{extra}\n"),
            log_line,
            dir,
            child: None,
            port: 0,
            monitor_port: None,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        server.spawn(None);
        server
    }

    /// What a server started by [`NatsServer::start_with_files`] has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("nats.log")).unwrap_or_default()
    }

    /// Starts a given nats-server binary (used to test refusing old servers).
    pub fn start_binary(binary: PathBuf) -> Self {
        Self::start_configured(binary, "max_payload: 8MB\n".to_owned())
    }

    /// Starts the pinned nats-server on `port`, for a test where Herald was told
    /// the address before the server was there.
    pub fn start_on(port: u16) -> Self {
        let mut server = Self::unstarted(binary(), "max_payload: 8MB\n".to_owned());
        server.spawn(Some(port));
        server
    }

    fn start_configured(binary: PathBuf, config: String) -> Self {
        let mut server = Self::unstarted(binary, config);
        server.spawn(None);
        server
    }

    fn unstarted(binary: PathBuf, config: String) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        NatsServer {
            binary,
            config,
            dir,
            child: None,
            port: 0,
            monitor_port: None,
            env: Vec::new(),
            log_line: String::new(),
        }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's own temporary directory (its store and `nats.conf` live here),
    /// for files its configuration names: certificates, included permission sets.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces the `extra` configuration given to [`NatsServer::start_with`] and
    /// has the running server reload it (SIGHUP), as an operator revoking a user
    /// would. The server reloads at once; poll for what the change should cause.
    pub fn reload(&mut self, extra: &str) {
        self.config = format!("max_payload: 8MB\n{}{extra}\n", self.log_line);
        std::fs::write(self.dir.path().join("nats.conf"), &self.config).expect("write nats.conf");
        let pid = self.child.as_ref().expect("server is running").id();
        let status = Command::new(&self.binary)
            .arg("--signal")
            .arg(format!("reload={pid}"))
            .status()
            .expect("signal nats-server");
        assert!(
            status.success(),
            "nats-server did not take the reload signal"
        );
    }

    /// Stops the server (as a crash would: SIGKILL) and starts it again on the same
    /// port with the same store.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn(Some(self.port));
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn spawn(&mut self, port: Option<u16>) {
        let ports_dir = self.dir.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports_dir);
        std::fs::create_dir_all(&ports_dir).expect("ports dir");
        let port_arg = port.map_or("-1".to_owned(), |p| p.to_string());
        let conf = self.dir.path().join("nats.conf");
        std::fs::write(&conf, &self.config).expect("write nats.conf");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&conf)
            .args(["-a", "127.0.0.1", "-p", &port_arg, "-js", "-sd"])
            .arg(self.dir.path().join("store"))
            .arg("--ports_file_dir")
            .arg(&ports_dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.binary.display()));
        self.child = Some(child);
        let ports = read_ports(&ports_dir);
        self.port = port_of(&ports["nats"]).expect("a client port");
        self.monitor_port = port_of(&ports["monitoring"]);
    }

    /// The names of the clients connected to this server (`/connz` of its
    /// monitoring port; empty when it has none or is down).
    pub async fn client_names(&self) -> Vec<String> {
        let Some(port) = self.monitor_port.filter(|_| self.child.is_some()) else {
            return Vec::new();
        };
        let url = format!("http://127.0.0.1:{port}/connz?limit=1024");
        let Ok(response) = reqwest::get(&url).await else {
            return Vec::new();
        };
        let connz: serde_json::Value = response.json().await.unwrap_or_default();
        connz["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_owned))
            .collect()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the server wrote in its ports file: `{"nats": [url], "monitoring": [url]}`.
fn read_ports(dir: &Path) -> serde_json::Value {
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
            && port_of(&ports["nats"]).is_some()
        {
            return ports;
        }
        if Instant::now() > deadline {
            panic!("nats-server did not report its port");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The port of the first URL in a list of the ports file.
fn port_of(urls: &serde_json::Value) -> Option<u16> {
    urls[0].as_str()?.rsplit(':').next()?.parse().ok()
}

/// Three `nats-server`s on loopback forming one cluster (`herald-test`): routes
/// between them, JetStream on each with a store of its own, server names `n1` to
/// `n3`. [`NatsCluster::start`] returns as soon as each listens, before the
/// cluster has formed or elected a JetStream leader, as in a fresh deployment.
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    pub fn start() -> Self {
        const SIZE: usize = 3;
        let cluster_ports: Vec<u16> = (0..SIZE).map(|_| crate::free_port()).collect();
        let routes = cluster_ports
            .iter()
            .map(|port| format!("nats-route://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(", ");
        let nodes = cluster_ports
            .iter()
            .enumerate()
            .map(|(i, port)| {
                NatsServer::start_configured(
                    binary(),
                    format!(
                        "max_payload: 8MB\n\
                         server_name: n{}\n\
                         http: \"127.0.0.1:-1\"\n\
                         cluster {{\n  name: herald-test\n  listen: \"127.0.0.1:{port}\"\n  \
                         routes: [{routes}]\n}}\n",
                        i + 1
                    ),
                )
            })
            .collect();
        NatsCluster { nodes }
    }

    /// Every node's client URL, comma-separated, as `HERALD_NATS_URL` takes them.
    pub fn seed_urls(&self) -> String {
        self.nodes
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node a client named `name` is connected to, once one is.
    pub async fn node_serving(&self, name: &str) -> usize {
        crate::eventually(
            crate::PATIENCE,
            &format!("{name} to be connected"),
            || async {
                for (i, node) in self.nodes.iter().enumerate() {
                    if node.client_names().await.iter().any(|n| n == name) {
                        return Some(i);
                    }
                }
                None
            },
        )
        .await
    }
}

/// The nats-server to test with: `HERALD_TEST_NATS_SERVER` (set by `make test`), or
/// the pinned one the Makefile installs under `.tools/`.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("HERALD_TEST_NATS_SERVER")
        && !path.is_empty()
    {
        return PathBuf::from(path);
    }
    let tools = crate::workspace_root().join(".tools");
    let found = std::fs::read_dir(&tools)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin/nats-server"))
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("no nats-server: run the tests with `make test`, which installs the pinned one")
    })
}

/// Waits until every named consumer, every delivery partition's consumer and the
/// `PARKED` stream have nothing pending and nothing unacknowledged: all work Herald
/// was given has been done.
pub async fn wait_idle(url: &str, consumers: &[(&str, &str)]) {
    let client = async_nats::connect(url).await.expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    crate::eventually(crate::PATIENCE, "Herald to finish its work", || {
        let js = js.clone();
        async move {
            for (stream, name) in consumers {
                let (pending, ack_pending) = consumer_backlog(&js, stream, name).await?;
                if pending > 0 || ack_pending > 0 {
                    return None;
                }
            }
            let backlog = delivery_backlog(&js).await?;
            (backlog == DeliveryBacklog::default()).then_some(())
        }
    })
    .await
}

/// `(num_pending, num_ack_pending)` of one consumer.
pub async fn consumer_backlog(
    js: &async_nats::jetstream::Context,
    stream: &str,
    name: &str,
) -> Option<(u64, usize)> {
    let stream = js.get_stream(stream).await.ok()?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(name).await.ok()?;
    let info = consumer.info().await.ok()?;
    Some((info.num_pending, info.num_ack_pending))
}

/// Delivery tasks not yet done, over every partition.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryBacklog {
    /// Waiting in `DELIVERIES` to be handed out.
    pub pending: u64,
    /// Handed out to a dispatcher and not yet acknowledged.
    pub ack_pending: usize,
    /// Moved to `PARKED` because their endpoint was busy.
    pub parked: u64,
}

pub async fn delivery_backlog(js: &async_nats::jetstream::Context) -> Option<DeliveryBacklog> {
    let mut backlog = DeliveryBacklog::default();
    for partition in 0..herald_proto::DELIVERY_PARTITIONS {
        let name = herald_common::nats::partition_consumer(partition);
        let (pending, ack_pending) = consumer_backlog(js, "DELIVERIES", &name).await?;
        backlog.pending += pending;
        backlog.ack_pending += ack_pending;
    }
    let mut parked = js.get_stream("PARKED").await.ok()?;
    backlog.parked = parked.info().await.ok()?.state.messages;
    Some(backlog)
}

/// Every consumer a `herald all` runs besides the delivery partitions, for
/// [`wait_idle`].
pub const ALL_CONSUMERS: &[(&str, &str)] = &[
    ("INGEST", "ingest"),
    ("EVENTS", "dispatcher-fanout"),
    ("OUTCOMES", "status-tracker"),
    ("OUTCOMES", "retry-scheduler"),
];

/// The newest message parked in `REJECTED` for `tenant`, once there is one.
pub async fn last_rejected(
    js: &async_nats::jetstream::Context,
    tenant: &str,
) -> async_nats::jetstream::message::StreamMessage {
    let subject = format!("rejected.{tenant}");
    crate::eventually(crate::PATIENCE, "a message parked in REJECTED", || {
        let (js, subject) = (js.clone(), subject.clone());
        async move {
            js.get_stream("REJECTED")
                .await
                .ok()?
                .get_last_raw_message_by_subject(&subject)
                .await
                .ok()
        }
    })
    .await
}

/// A message parked in `REJECTED`: where it was parked and why.
#[derive(Debug)]
pub struct Rejected {
    pub subject: String,
    /// Its `Herald-Rejected-Reason` header.
    pub reason: String,
}

/// The first `count` messages parked in `REJECTED`, once there are that many,
/// ordered by reason: messages are handled concurrently, so they are parked in any
/// order.
pub async fn rejected(js: &async_nats::jetstream::Context, count: usize) -> Vec<Rejected> {
    use futures::StreamExt;
    let stream = js
        .get_stream("REJECTED")
        .await
        .expect("the REJECTED stream");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("a consumer of REJECTED");
    let mut messages = consumer.messages().await.expect("messages of REJECTED");
    let mut rejected = Vec::new();
    for _ in 0..count {
        let message = tokio::time::timeout(crate::PATIENCE, messages.next())
            .await
            .unwrap_or_else(|_| panic!("{count} rejected messages; got {rejected:?}"))
            .expect("the REJECTED consumer goes on")
            .expect("a message of REJECTED");
        let reason = message
            .headers
            .as_ref()
            .and_then(|h| h.get("Herald-Rejected-Reason"))
            .expect("a Herald-Rejected-Reason header");
        rejected.push(Rejected {
            subject: message.subject.to_string(),
            reason: reason.as_str().to_owned(),
        });
    }
    rejected.sort_by(|a, b| a.reason.cmp(&b.reason));
    rejected
}

/// Waits until a dispatcher holds the lease of every delivery partition, so that
/// the fan-out can hand first attempts to the partitions' lanes.
pub async fn wait_partitions_owned(js: &async_nats::jetstream::Context) {
    use futures::TryStreamExt;
    use herald_proto::names::stream::{LEASES_BUCKET, partition_key};

    let leases = crate::eventually(crate::PATIENCE, "the lease bucket", || async {
        js.get_key_value(LEASES_BUCKET).await.ok()
    })
    .await;
    crate::eventually(crate::PATIENCE, "every partition to be owned", || async {
        let keys: Vec<String> = leases.keys().await.ok()?.try_collect().await.ok()?;
        (0..herald_proto::DELIVERY_PARTITIONS)
            .all(|n| keys.contains(&partition_key(n)))
            .then_some(())
    })
    .await;
}
