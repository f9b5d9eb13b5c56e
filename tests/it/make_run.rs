//! `make run`'s script (`deploy/run-local.sh`) with the real nats-server and the
//! `herald` binary cargo built for these tests: the banner comes only once
//! `/readyz` answers, and SIGTERM stops Herald, then nats-server.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use herald_tests::{PATIENCE, free_port, workspace_root};

#[test]
fn the_banner_comes_once_herald_is_ready_and_sigterm_stops_everything() {
    let data = tempfile::tempdir().unwrap();
    let nats_port = free_port();
    let http_addr = format!("127.0.0.1:{}", free_port());
    let herald = herald_tests::herald::binary();
    let mut script = Command::new("bash")
        .arg(workspace_root().join("deploy/run-local.sh"))
        .env("NATS_SERVER", herald_tests::nats::binary())
        .env("HERALD_BIN", &herald)
        .env("RUN_NATS_PORT", nats_port.to_string())
        .env("RUN_HTTP_ADDR", &http_addr)
        .env("RUN_API_KEY", "dev-key-0123456789abcdef")
        .env("RUN_SECRET_KEY", herald_tests::herald::SECRET_KEY)
        .env("RUN_DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, received) = mpsc::channel();
    let stdout = BufReader::new(script.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });

    let mut before = Vec::new();
    loop {
        let line = received
            .recv_timeout(PATIENCE)
            .unwrap_or_else(|_| panic!("no banner; printed before: {before:#?}"));
        if line.starts_with("Herald API:") {
            // Asked the moment the banner is printed: Herald is already ready.
            let status = readyz_status(&http_addr);
            assert_eq!(status, Some(200), "banner before /readyz answered 200");
            assert_eq!(line, format!("Herald API: http://{http_addr}"));
            break;
        }
        before.push(line);
    }
    // The banner's portal link signs the dev tenant in.
    let portal = loop {
        let line = received
            .recv_timeout(PATIENCE)
            .expect("a portal line in the banner");
        if let Some(rest) = line.strip_prefix("Portal:") {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_owned();
        }
    };
    let prefix = format!("http://{http_addr}/portal/login?token=");
    assert!(portal.starts_with(&prefix), "{portal}");
    let login = get_status(&http_addr, &portal[format!("http://{http_addr}").len()..]);
    assert_eq!(
        login,
        Some(303),
        "the banner's portal link does not sign in"
    );

    let _ = Command::new("kill")
        .args(["-TERM", &script.id().to_string()])
        .status();
    let status = script.wait().unwrap();
    assert!(status.success(), "{status:?}");
    // Until every writer of the pipe (the script, Herald, nats-server) is gone.
    let mut rest = Vec::new();
    while let Ok(line) = received.recv_timeout(Duration::from_secs(10)) {
        rest.push(line);
    }
    assert!(rest.iter().any(|l| l == "Herald stopped."), "{rest:#?}");
    // Neither Herald nor nats-server outlives the script.
    let http_port: u16 = http_addr.rsplit(':').next().unwrap().parse().unwrap();
    for port in [nats_port, http_port] {
        let connect = std::net::TcpStream::connect_timeout(
            &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
            Duration::from_secs(1),
        );
        assert!(connect.is_err(), "something still listens on {port}");
    }
}

/// The status `/readyz` answers at `addr` right now (plain HTTP/1.0 on a socket,
/// with no client to set up first), or `None` when nothing answers.
fn readyz_status(addr: &str) -> Option<u16> {
    get_status(addr, "/readyz")
}

/// The status a GET of `path` at `addr` answers (plain HTTP/1.0 on a socket).
fn get_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split(' ').nth(1)?.parse().ok()
}
