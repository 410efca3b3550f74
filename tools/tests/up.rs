//! Proves the README's first command: `tools up` starts the whole store, serves a query
//! and a purchase through the front-end, and on SIGINT stops every service and exits 0,
//! leaving no service listening; started again on the same data directory, it still has
//! the order and the stock it had.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use toystore_config::ClusterConfig;
use toystore_harness::ClusterSpec;

/// A running `tools up` and the lines of its standard output; killed if a test fails
/// before interrupting it.
struct Up {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Up {
    /// Starts `tools up` and waits until it says the store is up; returns its banner.
    fn start(data: &Path, config: &Path, extra: &[&str]) -> (Up, Vec<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tools"))
            .arg("up")
            .arg("--data-dir")
            .arg(data)
            .arg("--config")
            .arg(config)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take();
        let up = Up {
            child: Some(child),
            lines,
        };
        let stdout = stdout.unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut banner = Vec::new();
        loop {
            let line = up
                .lines
                .recv_timeout(Duration::from_secs(60))
                .expect("tools up did not report ready");
            let done = line.contains("Ctrl-C stops the store");
            banner.push(line);
            if done {
                return (up, banner);
            }
        }
    }

    /// Sends SIGINT, asserts a clean exit, and returns the rest of its output.
    async fn interrupt(mut self) -> Vec<String> {
        let mut child = self.child.take().unwrap();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "tools up exited with {status}");
        // The reader ends at end of output, which the exit has caused.
        self.lines.iter().collect()
    }
}

async fn get(http: &reqwest::Client, url: String) -> serde_json::Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// `POST <frontend>/orders` with `order` as the JSON body; the reply's JSON.
async fn place(
    http: &reqwest::Client,
    frontend: &str,
    order: serde_json::Value,
) -> serde_json::Value {
    http.post(format!("{frontend}/orders"))
        .json(&order)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A cluster on free ports (so a test never collides with a running store), changed by
/// `edit`, written to `in.toml` in `dir`: the config, its file and the data directory.
fn free_cluster(
    dir: &Path,
    edit: impl FnOnce(&mut ClusterConfig),
) -> (ClusterConfig, PathBuf, PathBuf) {
    let mut config = ClusterSpec::on_free_ports(PathBuf::new(), Vec::new(), dir)
        .unwrap()
        .config;
    edit(&mut config);
    let config_path = dir.join("in.toml");
    std::fs::write(&config_path, config.to_toml()).unwrap();
    (config, config_path, dir.join("data"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_stops_cleanly_on_sigint_and_keeps_its_data() {
    let dir = tempfile::tempdir().unwrap();
    // No token: `tools up` must generate one.
    let (config, config_path, data) = free_cluster(dir.path(), |c| c.token.clear());
    let ports: Vec<u16> = std::iter::once(config.frontend.addr.port())
        .chain(config.catalogs.iter().map(|c| c.addr.port()))
        .chain(config.replicas.iter().map(|r| r.addr.port()))
        .collect();
    let frontend = format!("http://{}", config.frontend.addr);
    let http = reqwest::Client::new();

    let (up, banner) = Up::start(&data, &config_path, &[]);
    assert!(banner.iter().any(|l| l.contains(&frontend)), "{banner:?}");
    assert_eq!(
        get(&http, format!("{frontend}/products/Tux")).await,
        serde_json::json!({"data": {"name": "Tux", "price": 25.99, "quantity": 100}})
    );
    let order = place(
        &http,
        &frontend,
        serde_json::json!({"name": "Tux", "quantity": 1}),
    )
    .await;
    assert_eq!(order, serde_json::json!({"data": {"order_number": 0}}));

    let rest = up.interrupt().await;
    assert!(rest.iter().any(|l| l == "toystore stopped"), "{rest:?}");
    for port in &ports {
        assert!(
            TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], *port))).is_err(),
            "something still listens on port {port}"
        );
    }
    // The cluster file it used is there for operators.
    let used = ClusterConfig::load(&data.join("toystore.toml")).unwrap();
    assert!(!used.token.is_empty());

    // Started again on the same data, the store still has the order and the stock.
    let (up, _) = Up::start(&data, &config_path, &[]);
    assert_eq!(
        get(&http, format!("{frontend}/orders/0")).await,
        serde_json::json!({"data": {"number": 0, "name": "Tux", "quantity": 1}})
    );
    assert_eq!(
        get(&http, format!("{frontend}/products/Tux")).await["data"]["quantity"],
        99
    );
    up.interrupt().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_raft_elections_serves_orders() {
    let dir = tempfile::tempdir().unwrap();
    let (config, config_path, data) = free_cluster(dir.path(), |_| {});
    let frontend = format!("http://{}", config.frontend.addr);
    let http = reqwest::Client::new();

    let (up, banner) = Up::start(&data, &config_path, &["--election", "raft"]);
    assert!(
        banner
            .iter()
            .any(|l| l.contains("election") && l.contains("raft")),
        "{banner:?}"
    );
    let order = place(
        &http,
        &frontend,
        serde_json::json!({"name": "Uno", "quantity": 2}),
    )
    .await;
    assert_eq!(order, serde_json::json!({"data": {"order_number": 0}}));
    assert_eq!(
        get(&http, format!("{frontend}/orders/0")).await,
        serde_json::json!({"data": {"number": 0, "name": "Uno", "quantity": 2}})
    );
    let used = ClusterConfig::load(&data.join("toystore.toml")).unwrap();
    assert_eq!(used.order.election, toystore_config::Election::Raft);
    up.interrupt().await;
}

/// The network namespaces that exist now whose names start with `prefix`.
fn namespaces(prefix: &str) -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default()
}

/// The front-end's bridge URL in a `tools up --netns` banner, and the prefix of that run's
/// namespaces (`toystore<slot>-`, the slot being the /28 of 10.77.0.0/24 its address is
/// in): what this run made, whatever other runs (or their leftovers) exist.
fn on_bridge(banner: &[String]) -> (String, String) {
    let url = banner
        .iter()
        .find_map(|l| {
            let at = l.find("http://10.77.0.")?;
            Some(l[at..].split_whitespace().next()?.to_string())
        })
        .unwrap_or_else(|| panic!("no front-end on the bridge in {banner:?}"));
    let host = url.trim_start_matches("http://").split(':').next().unwrap();
    let ip: std::net::Ipv4Addr = host.parse().unwrap();
    let prefix = format!("toystore{}-", ip.octets()[3] / 16);
    (url, prefix)
}

/// The processes running inside namespace `ns`.
fn pids_in(ns: &str) -> Vec<i32> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Whether process `pid` still runs (a zombie waiting to be reaped does not).
fn runs(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(false)
}

/// `tools up --netns` (root, as CI runs): each service on a host of its own, serving at its
/// bridge address; stopped, it removes every namespace it made; killed (SIGKILL, so it
/// cleans nothing), the next run removes what it left and kills the services still running
/// in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_on_separate_hosts_removes_its_namespaces_even_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (_, config_path, data) = free_cluster(dir.path(), |_| {});
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let (up, banner) = Up::start(&data, &config_path, &["--netns"]);
    let (frontend, prefix) = on_bridge(&banner);
    let ours = namespaces(&prefix);
    assert!(
        ours.iter().any(|n| n.ends_with("-hub")) && ours.len() >= 6,
        "a hub and a namespace per service: {ours:?}"
    );
    assert_eq!(
        get(&http, format!("{frontend}/products/Tux")).await["data"]["name"],
        "Tux"
    );
    up.interrupt().await;
    let left = namespaces(&prefix);
    assert!(left.is_empty(), "left behind after a clean stop: {left:?}");

    // A crashed run leaves its namespaces, with its services running inside.
    let (up, banner) = Up::start(&data, &config_path, &["--netns"]);
    let (_, crashed) = on_bridge(&banner);
    let stale = namespaces(&crashed);
    let pids: Vec<i32> = stale.iter().flat_map(|n| pids_in(n)).collect();
    assert!(pids.len() >= 5, "services inside {stale:?}: {pids:?}");
    drop(up); // SIGKILL
    let all = namespaces("toystore");
    assert!(stale.iter().all(|n| all.contains(n)));
    assert!(
        pids.iter().any(|p| runs(*p)),
        "the services outlive the tool"
    );

    // The next run cleans up: the old services are killed, and whatever namespaces remain
    // by those names are the new run's own.
    let (up, banner) = Up::start(&data, &config_path, &["--netns"]);
    let (_, prefix) = on_bridge(&banner);
    let still: Vec<&i32> = pids.iter().filter(|p| runs(**p)).collect();
    assert!(still.is_empty(), "stale services still running: {still:?}");
    let all = namespaces("toystore");
    for ns in stale.iter().filter(|n| all.contains(*n)) {
        assert!(
            pids_in(ns).iter().all(|p| !pids.contains(p)),
            "{ns} still holds an old process"
        );
    }
    up.interrupt().await;
    let left: Vec<String> = [prefix, crashed]
        .iter()
        .flat_map(|p| namespaces(p))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_with_tls_serves_https_to_holders_of_its_ca_only_and_keeps_its_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let (config, config_path, data) = free_cluster(dir.path(), |_| {});
    let frontend = format!("https://{}", config.frontend.addr);
    let (up, banner) = Up::start(&data, &config_path, &["--tls"]);
    let ca = data.join("tls").join("ca.pem");
    assert!(banner.iter().any(|l| l.contains(&frontend)), "{banner:?}");
    assert!(
        banner
            .iter()
            .any(|l| l.contains(&format!("--cacert {}", ca.display()))),
        "{banner:?}"
    );
    let trusting = || {
        let tls = toystore_http::tls::client_config(&ca).unwrap();
        reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .build()
            .unwrap()
    };
    let order = place(
        &trusting(),
        &frontend,
        serde_json::json!({"name": "Tux", "quantity": 1}),
    )
    .await;
    assert_eq!(order, serde_json::json!({"data": {"order_number": 0}}));
    // Plaintext, and TLS without the CA: refused.
    let plain = format!("http://{}/products/Tux", config.frontend.addr);
    assert!(reqwest::get(&plain).await.is_err());
    let no_ca = reqwest::Client::new()
        .get(format!("{frontend}/products/Tux"))
        .send()
        .await;
    assert!(no_ca.is_err(), "{no_ca:?}");
    // Every service of the file it wrote is on TLS.
    let used = ClusterConfig::load(&data.join("toystore.toml")).unwrap();
    assert_eq!(used.tls.as_ref().map(|t| t.ca.clone()), Some(ca.clone()));
    up.interrupt().await;

    // Started again: the same CA, and the order is still there.
    let host = data
        .join("tls")
        .join(format!("{}.pem", config.frontend.addr.host()));
    let before = (std::fs::read(&ca).unwrap(), std::fs::read(&host).unwrap());
    let (up, _) = Up::start(&data, &config_path, &["--tls"]);
    assert_eq!(
        (std::fs::read(&ca).unwrap(), std::fs::read(&host).unwrap()),
        before
    );
    assert_eq!(
        get(&trusting(), format!("{frontend}/orders/0")).await,
        serde_json::json!({"data": {"number": 0, "name": "Tux", "quantity": 1}})
    );
    up.interrupt().await;
}
