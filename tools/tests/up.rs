//! Proves the README's first command: `tools up` starts the whole store, serves a query
//! and a purchase through the front-end, and on SIGINT stops every service and exits 0,
//! leaving no service listening.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use toystore_net::ClusterConfig;
use toystore_tools::cluster::ClusterSpec;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_a_query_and_a_purchase_and_stops_cleanly_on_sigint() {
    let dir = tempfile::tempdir().unwrap();
    // Free ports instead of the defaults, so the test never collides with a running store.
    let mut config = ClusterSpec::on_free_ports(PathBuf::new(), Vec::new(), dir.path())
        .unwrap()
        .config;
    // No token: `tools up` must generate one.
    config.token.clear();
    let ports: Vec<u16> = std::iter::once(config.frontend.addr.port())
        .chain(std::iter::once(config.catalog.addr.port()))
        .chain(config.replicas.iter().map(|r| r.addr.port()))
        .collect();
    let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
    let config_path = dir.path().join("in.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();

    let mut up = Command::new(env!("CARGO_BIN_EXE_tools"))
        .arg("up")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config_path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let stdout = up.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut banner = Vec::new();
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("tools up did not report ready");
        let done = line.contains("Ctrl-C stops the store");
        banner.push(line);
        if done {
            break;
        }
    }
    let frontend = format!("http://{}", config.frontend.addr);
    assert!(banner.iter().any(|l| l.contains(&frontend)), "{banner:?}");

    let http = reqwest::Client::new();
    let product: serde_json::Value = http
        .get(format!("{frontend}/products/Tux"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        product,
        serde_json::json!({"data": {"name": "Tux", "price": 25.99, "quantity": 100}})
    );
    let order: serde_json::Value = http
        .post(format!("{frontend}/orders"))
        .json(&serde_json::json!({"name": "Tux", "quantity": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order, serde_json::json!({"data": {"order_number": 0}}));

    let pid = nix::unistd::Pid::from_raw(i32::try_from(up.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = tokio::task::spawn_blocking(move || up.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "tools up exited with {status}");
    // The reader ends at end of output, which the exit has caused.
    let rest: Vec<String> = lines.iter().collect();
    assert!(rest.iter().any(|l| l == "toystore stopped"), "{rest:?}");
    for port in &ports {
        assert!(
            TcpStream::connect(addr(*port)).is_err(),
            "something still listens on port {port}"
        );
    }
    // The cluster file it used is there for operators.
    let used = ClusterConfig::load(&dir.path().join("data").join("toystore.toml")).unwrap();
    assert!(!used.token.is_empty());
}
