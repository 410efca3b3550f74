//! The in-process test kit of the catalog's and the front-end's integration tests: start a
//! catalog on a loopback port (stopped again when its guard drops), call it over raw HTTP,
//! check error envelopes, and wait for conditions with a deadline instead of sleeping. One
//! crate, so both test suites start catalogs the same way. (The black-box tests of whole
//! stores of processes use `toystore-harness` instead.)
//!
//! A test kit panics where a test would: a failed set-up is a failed test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod frontend;

use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use toystore_catalog::server::ServeError;
use toystore_catalog::server::{run, ServerConfig};
use toystore_catalog_api::CatalogClient;
use toystore_config::ClusterToken;

/// The cluster token every test catalog uses.
pub const TOKEN: &str = "catalog-test-token";

/// How long any wait in a test may take before the test fails (never reached when things
/// work; it only turns a hang into a failure).
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The heartbeat interval of every test catalog's event streams.
pub const HEARTBEAT: Duration = Duration::from_millis(100);

/// How long a test's subscriber waits in silence before the stream counts as dead: the
/// catalog's own rule for its heartbeat.
pub const SILENCE: Duration = Duration::from_millis(1_000);

/// The names and prices of the handout's ten toys.
pub const HANDOUT_TOYS: [&str; 10] = [
    "Tux", "Whale", "Elephant", "Bird", "Risk", "Sand", "Jenga", "Uno", "Pinball", "Clue",
];

/// [`TOKEN`] as the services take it.
pub fn token() -> ClusterToken {
    ClusterToken::new(TOKEN).expect("non-empty token")
}

/// The `Authorization` header value of [`TOKEN`].
pub fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// A catalog running in this process; shut down when dropped (or by [`TestCatalog::stop`]).
pub struct TestCatalog {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its base URL (`http://<addr>`).
    pub url: String,
    /// Its redb file.
    pub db: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestCatalog {
    /// Starts a catalog on a fresh loopback port with its redb file at `db`, and waits until
    /// it answers `/health`.
    pub async fn start(db: &Path) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        Self::start_on(listener, db).await
    }

    /// Starts a catalog on an already bound listener.
    pub async fn start_on(listener: TcpListener, db: &Path) -> Self {
        // A catalog stopped a moment ago (or opened in this process) may still hold it.
        wait_released(db).await;
        let addr = listener.local_addr().expect("local addr");
        let config = ServerConfig {
            // Long enough that the periodic restock never runs during a test; tests restock
            // explicitly through `POST /internal/restock`.
            restock_interval: Duration::from_secs(3600),
            heartbeat: HEARTBEAT,
            ..ServerConfig::alone(db.to_path_buf(), addr, token())
        };
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, config, async move {
            let _ = rx.await;
        }));
        let catalog = Self {
            addr,
            url: format!("http://{addr}"),
            db: db.to_path_buf(),
            shutdown: Some(tx),
            task: Some(task),
        };
        catalog.wait_healthy().await;
        catalog
    }

    /// Waits until the catalog (a group of one) leads and holds its toys.
    async fn wait_healthy(&self) {
        let client = self.client();
        wait_until("the catalog leads with its toys seeded", || {
            let client = client.clone();
            async move {
                client
                    .health()
                    .await
                    .is_ok_and(|h| h.ready && h.role == toystore_raft_api::Role::Leader)
            }
        })
        .await;
    }

    /// A typed client of this catalog.
    pub fn client(&self) -> CatalogClient {
        CatalogClient::new(&self.url, token()).expect("catalog client")
    }

    /// Stops the catalog and waits until `run` has returned and its file is released
    /// (openraft's last tasks may let go of the storage a moment after `run` returns).
    pub async fn stop(mut self) -> Result<(), ServeError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("running");
        let stopped = tokio::time::timeout(DEADLINE, task)
            .await
            .expect("catalog stops within the deadline")
            .expect("catalog task did not panic");
        wait_released(&self.db).await;
        stopped
    }
}

impl Drop for TestCatalog {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Waits until a catalog file can be opened again (no process or task holds it).
pub async fn wait_released(db: &Path) {
    wait_until("the catalog's file is released", || {
        let db = db.to_path_buf();
        async move {
            let opened = tokio::task::spawn_blocking(move || {
                toystore_catalog::server::open_store(&db).map(drop)
            })
            .await
            .expect("open task");
            !matches!(opened, Err(toystore_store::StoreError::Locked(_)))
        }
    })
    .await;
}

/// A fresh temporary directory and the catalog file path inside it.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("catalog.redb");
    (dir, db)
}

/// A plain HTTP client (no token unless a request adds one).
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(DEADLINE)
        .build()
        .expect("http client")
}

/// Sends a request and returns its status and JSON body (panics if the body is not JSON:
/// every reply of the catalog must be JSON).
pub async fn send_json(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = resp.bytes().await.expect("body");
    let body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "status {status}: body is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    assert!(
        ctype.starts_with("application/json"),
        "status {status}: content type {ctype:?}"
    );
    (status, body)
}

/// Asserts that `body` is exactly the API's error envelope for `status`:
/// `{"error": {"code": status, "message": <non-empty text>}}`.
pub fn assert_error_envelope(status: u16, body: &Value) {
    let obj = body.as_object().expect("error body is an object");
    assert_eq!(obj.len(), 1, "only `error` at the top level: {body}");
    let error = obj["error"].as_object().expect("`error` is an object");
    assert_eq!(error.len(), 2, "exactly code and message: {body}");
    assert_eq!(
        error["code"],
        Value::from(status),
        "code equals the status: {body}"
    );
    let message = error["message"].as_str().expect("message is a string");
    assert!(!message.is_empty(), "non-empty message: {body}");
}

/// The exact error body `{"error":{"code":..,"message":..}}`.
pub fn error_body(code: u16, message: &str) -> Value {
    serde_json::json!({ "error": { "code": code, "message": message } })
}

/// Polls `cond` until it is true; panics after [`DEADLINE`].
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if cond().await {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Binds `addr` again, retrying while the port is still in use (a stopped server's socket
/// may linger briefly); panics after [`DEADLINE`].
pub async fn rebind(addr: SocketAddr) -> TcpListener {
    let start = Instant::now();
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(e) => {
                assert!(start.elapsed() < DEADLINE, "cannot rebind {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// The current quantity of `name` as the catalog reports it.
pub async fn quantity(client: &CatalogClient, name: &str) -> u32 {
    client
        .product(name)
        .await
        .expect("product")
        .product
        .quantity
}

/// A buy of `quantity` units of `name` under `request_id`.
pub fn buy_request(request_id: &str, name: &str, quantity: u32) -> toystore_events::Purchase {
    toystore_events::Purchase {
        request_id: request_id.try_into().unwrap(),
        name: name.try_into().unwrap(),
        quantity: quantity.try_into().unwrap(),
    }
}

/// Buys one Uno (which must be sold out) in `loops` tight loops for `spell`; returns how
/// many were refused (each must be a 409).
pub async fn refuse_until(client: &CatalogClient, loops: usize, spell: Duration) -> u64 {
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let refused = std::sync::Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..loops)
        .map(|l| {
            let (client, done, refused) = (client.clone(), done.clone(), refused.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !done.load(Ordering::Relaxed) {
                    i += 1;
                    let err = client
                        .buy(&buy_request(&format!("refused-{l}-{i}"), "Uno", 1))
                        .await
                        .expect_err("sold out");
                    assert_eq!(err.status(), Some(409), "{err}");
                    refused.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(spell).await;
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("buyer");
    }
    refused.load(Ordering::Relaxed)
}
