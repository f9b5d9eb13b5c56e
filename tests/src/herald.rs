//! Herald under test: `herald all` in-process on `127.0.0.1:0`, with its SQLite store
//! in a temporary directory and retries scaled to seconds.

use std::collections::HashMap;

use herald_common::config::MapEnv;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::Api;

/// The four services, as `herald <service>` names them.
pub const SERVICES: [&str; 4] = ["ingest", "dispatcher", "retry-scheduler", "status-tracker"];

pub const TENANT: &str = "acme";
pub const API_KEY: &str = "acme-test-key-0123456789";
pub const OTHER_TENANT: &str = "globex";
pub const OTHER_API_KEY: &str = "globex-test-key-0123456789";
/// Base64 of 32 bytes: the key webhook secrets are sealed with in tests.
pub const SECRET_KEY: &str = "dGVzdC1vbmx5LXNlY3JldC1rZXktMzItYnl0ZXMhISE=";

pub struct Herald {
    pub base_url: String,
    pub env: MapEnv,
    shutdown: CancellationToken,
    task: Option<JoinHandle<Result<(), herald::Error>>>,
    _dir: tempfile::TempDir,
}

impl Herald {
    /// The environment tests run Herald with: loopback allowed, retries in seconds.
    pub fn test_env(nats_url: &str, dir: &std::path::Path) -> MapEnv {
        let db = dir.join("herald.db");
        MapEnv::new([
            ("HERALD_NATS_URL", nats_url.to_owned()),
            ("HERALD_HTTP_ADDR", "127.0.0.1:0".to_owned()),
            (
                "HERALD_API_KEYS",
                format!("{TENANT}:{API_KEY},{OTHER_TENANT}:{OTHER_API_KEY}"),
            ),
            ("HERALD_ALLOWED_TARGETS", "127.0.0.0/8".to_owned()),
            ("HERALD_SECRET_KEY", SECRET_KEY.to_owned()),
            ("HERALD_RETRY_SCHEDULE", "1s,1s,1s".to_owned()),
            ("HERALD_DELIVERY_TIMEOUT", "5s".to_owned()),
            // A stopped dispatcher's partitions move to another within seconds.
            ("HERALD_PARTITION_LEASE", "3s".to_owned()),
            // A message that cannot be processed is tried again within a second.
            ("HERALD_REDELIVERY_BACKOFF_MAX", "1s".to_owned()),
            (
                "DATABASE_URL",
                format!("sqlite://{}?mode=rwc", db.display()),
            ),
        ])
    }

    /// Starts `herald all` against `nats_url`, with `overrides` on top of [`Herald::test_env`].
    pub async fn start(nats_url: &str, overrides: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut env = Self::test_env(nats_url, dir.path());
        for (key, value) in overrides {
            env.set(*key, *value);
        }
        Self::start_with(env, dir).await
    }

    pub async fn start_with(env: MapEnv, dir: tempfile::TempDir) -> Self {
        Self::start_modes(&[herald::Mode::All], env, dir).await
    }

    /// Starts only the services in `modes` in this process.
    pub async fn start_modes(modes: &[herald::Mode], env: MapEnv, dir: tempfile::TempDir) -> Self {
        herald_common::telemetry::init_crypto();
        let configs = herald::Configs::load(modes, &env).expect("valid test config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(herald::run(configs, listener, shutdown.clone()));
        let herald = Herald {
            base_url,
            env,
            shutdown,
            task: Some(task),
            _dir: dir,
        };
        herald.wait_ready().await;
        herald
    }

    /// Starts every service but `apart` in this process and `apart` as a process of
    /// its own, for tests that kill or stop it.
    pub async fn start_apart(apart: &str, env: &MapEnv, dir: tempfile::TempDir) -> (Self, Process) {
        let modes: Vec<_> = SERVICES
            .into_iter()
            .filter(|service| *service != apart)
            .map(|service| herald::Mode::parse(service).expect("a service name"))
            .collect();
        let herald = Self::start_modes(&modes, env.clone(), dir).await;
        let process = Process::spawn(apart, env);
        (herald, process)
    }

    pub fn api(&self) -> Api {
        Api::new(&self.base_url, API_KEY)
    }

    pub async fn wait_ready(&self) {
        wait_ready(&self.base_url).await;
    }

    /// Drains and stops Herald, returning how its run ended.
    pub async fn stop(mut self) -> Result<(), herald::Error> {
        self.shutdown.cancel();
        self.task
            .take()
            .expect("running")
            .await
            .expect("herald task")
    }

    pub fn vars(&self) -> HashMap<String, String> {
        self.env.0.clone()
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Waits until `GET {base_url}/readyz` answers 2xx.
pub async fn wait_ready(base_url: &str) {
    herald_common::telemetry::init_crypto();
    let http = reqwest::Client::new();
    let url = format!("{base_url}/readyz");
    crate::eventually(crate::PATIENCE, "Herald to be ready", || {
        let request = http.get(&url).send();
        async move {
            let response = request.await.ok()?;
            response.status().is_success().then_some(())
        }
    })
    .await;
}

/// The `herald` binary cargo built beside this test binary
/// (`target/<profile>/deps/it-<hash>` → `target/<profile>/herald`; `make test` builds it).
pub fn binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent().unwrap().parent().unwrap().join("herald")
}

/// One Herald service as a child process of its own (`target/<profile>/herald`), for
/// tests that kill it. Killed on drop.
pub struct Process {
    child: std::process::Child,
}

impl Process {
    /// Starts `herald <service>` on any free port.
    pub fn spawn(service: &str, env: &MapEnv) -> Self {
        let mut env = env.clone();
        env.set("HERALD_HTTP_ADDR", "127.0.0.1:0");
        Self::spawn_at(service, &env)
    }

    /// Starts `herald <service>` on a free loopback port, and says which: for a test
    /// that talks to the process itself.
    pub fn spawn_listening(service: &str, env: &MapEnv) -> (Self, std::net::SocketAddr) {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], crate::free_port()));
        let mut env = env.clone();
        env.set("HERALD_HTTP_ADDR", addr.to_string());
        (Self::spawn_at(service, &env), addr)
    }

    /// Starts `herald <service>` with `env` as given, `HERALD_HTTP_ADDR` included.
    pub fn spawn_at(service: &str, env: &MapEnv) -> Self {
        Self::spawn_with(service, env, std::process::Stdio::null())
    }

    /// Starts `herald <service>` on a free loopback port, its log (stdout) written to
    /// `log`, and says which port: for a test that reads what the process logged.
    pub fn spawn_logging(
        service: &str,
        env: &MapEnv,
        log: &std::path::Path,
    ) -> (Self, std::net::SocketAddr) {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], crate::free_port()));
        let mut env = env.clone();
        env.set("HERALD_HTTP_ADDR", addr.to_string());
        let file = std::fs::File::create(log).expect("create the log file");
        (Self::spawn_with(service, &env, file.into()), addr)
    }

    fn spawn_with(service: &str, env: &MapEnv, stdout: std::process::Stdio) -> Self {
        let binary = binary();
        let mut command = std::process::Command::new(&binary);
        command
            .arg(service)
            .env_clear()
            .env("RUST_LOG", "warn")
            .stdout(stdout);
        for (key, value) in &env.0 {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Process { child }
    }

    /// How the process ended, or `None` while it runs.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The process id, to read its memory from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ends the process at once, as a crash or an OOM kill would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for herald")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a producer test needs: a broker, Herald on it, a receiver subscribed to
/// `job.*`, and a JetStream context to publish on `ingest.>` as a producer would.
pub async fn with_producer() -> (
    crate::NatsServer,
    Herald,
    crate::Receiver,
    async_nats::jetstream::Context,
) {
    let nats = crate::NatsServer::start();
    let herald = Herald::start(&nats.url(), &[]).await;
    let receiver = crate::Receiver::start().await;
    herald
        .api()
        .create_webhook(&receiver.url("/"), &["job.*"])
        .await;
    let client = async_nats::connect(nats.url())
        .await
        .expect("connect to NATS");
    let js = async_nats::jetstream::new(client);
    (nats, herald, receiver, js)
}
