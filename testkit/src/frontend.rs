//! Front-ends in this process, for the front-end's integration tests and its query-latency
//! bench: [`frontend_config`] (the catalog at a URL, an LRU of a given capacity or none, no
//! order replicas) and [`TestFrontend`], a front-end on a loopback port, stopped when it
//! drops, with its typed client, raw requests and cache counters.

use crate::{http, send_json, token, wait_until, DEADLINE};
use serde_json::Value;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use toystore_frontend::client::FrontendClient;
use toystore_frontend::server::{run as run_frontend, ServerConfig as FrontendConfig, StartError};

/// The front-end's cache counters as `GET /internal/metrics` reports them.
pub use toystore_frontend::cache::CacheStats as Stats;

/// The configuration of a test front-end: the catalog at `catalog_url`, an LRU of
/// `capacity` entries (`None`: caching off), no order replicas.
pub fn frontend_config(catalog_url: &str, capacity: Option<usize>) -> FrontendConfig {
    FrontendConfig {
        catalogs: vec![(1, catalog_url.to_string())],
        token: token(),
        cache_capacity: capacity.map(|c| NonZeroUsize::new(c).expect("capacity >= 1")),
        stream_silence: Duration::from_secs(2),
        replicas: Vec::new(),
        health_interval: Duration::from_secs(1),
        failover: toystore_frontend::orders::Failover {
            total: Duration::from_secs(1),
            attempt: Duration::from_secs(1),
            pause: Duration::from_millis(50),
        },
        watch: None,
        election: Default::default(),
        timeouts: Default::default(),
    }
}

/// A front-end running in this process; shut down when dropped (or by
/// [`TestFrontend::stop`]).
pub struct TestFrontend {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its base URL (`http://<addr>`).
    pub url: String,
    /// The typed client of its public API.
    pub client: FrontendClient,
    http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), StartError>>>,
}

impl TestFrontend {
    /// Starts a front-end of the catalog at `catalog_url` with an LRU of `capacity` entries
    /// (`None`: caching off) and waits until it answers `/health`.
    pub async fn start(catalog_url: &str, capacity: Option<usize>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let config = frontend_config(catalog_url, capacity);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(run_frontend(listener, config, async move {
            let _ = rx.await;
        }));
        let url = format!("http://{addr}");
        let frontend = Self {
            addr,
            client: FrontendClient::with_timeout(&url, DEADLINE).expect("front-end client"),
            url,
            http: http(),
            shutdown: Some(tx),
            task: Some(task),
        };
        wait_until("front-end answers /health", || async {
            frontend.client.health().await.is_ok()
        })
        .await;
        frontend
    }

    /// Starts a caching front-end and waits until its cache is active (the catalog's
    /// stream said it is caught up), so that hits can be asserted.
    pub async fn start_active(catalog_url: &str, capacity: usize) -> Self {
        let frontend = Self::start(catalog_url, Some(capacity)).await;
        frontend.wait_active(true).await;
        frontend
    }

    /// `GET <path>` on the front-end, raw: status and JSON body (for the tests of the exact
    /// bytes and of the edge; everything else goes through [`TestFrontend::client`]).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        send_json(self.http.get(format!("{}{path}", self.url))).await
    }

    /// `GET /products/<name>`, raw (the name as given, already percent-encoded if need be).
    pub async fn product(&self, name: &str) -> (u16, Value) {
        self.get(&format!("/products/{name}")).await
    }

    /// The quantity the front-end reports for `name` (which must exist; the exact name, the
    /// client percent-encodes it).
    pub async fn quantity(&self, name: &str) -> u64 {
        let product = self
            .client
            .product(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        u64::from(product.quantity)
    }

    /// The cache counters (panics if caching is off).
    pub async fn stats(&self) -> Stats {
        self.client
            .internal_metrics(&token())
            .await
            .expect("internal metrics")
            .cache
            .expect("caching is on")
    }

    /// Waits until the cache's `active` flag is `active`.
    pub async fn wait_active(&self, active: bool) {
        wait_until(&format!("the cache is active={active}"), || async move {
            self.stats().await.active == active
        })
        .await;
    }

    /// Stops the front-end and waits until `run` has returned.
    pub async fn stop(mut self) -> Result<(), StartError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self.task.take().expect("running");
        tokio::time::timeout(DEADLINE, task)
            .await
            .expect("front-end stops within the deadline")
            .expect("front-end task did not panic")
    }
}

impl Drop for TestFrontend {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
