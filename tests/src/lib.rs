//! Harness of the black-box tests: a whole store as real processes of the node binary
//! (`toystore-node`, which runs each service's own command line, with failpoints compiled
//! in), and helpers to talk to it and to read the replicas' files afterwards. The front-end
//! is called through its typed client ([`FrontendClient`]), so a test states outcomes as
//! values (`Ok(order number)`, `Err(FrontendError::KeyReused(..))`); the replicas' `/health`
//! through their typed clients ([`ReplicaClient`]), as a [`ReplicaStatus`]; only the tests
//! of the exact bytes and of the edge send raw requests (with [`Shop::http`]).
//! [`hostile`] generates the fuzz tests' hostile requests and checks their answers.

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toystore_config::ClusterToken;
use toystore_events::{CatalogEvent, OrderEvent, Seq};
use toystore_frontend::api::InternalMetrics;
use toystore_frontend::client::FrontendClient;
use toystore_harness::buyer::{retryable, Bought, Buyer, Retry};
use toystore_harness::probe::poll_until;
use toystore_harness::{Cluster, ClusterSpec, Service};
use toystore_order_api::{ReplicaClient, ReplicaStatus};
use toystore_store::EventLog;

pub mod hostile;

pub use toystore_frontend::api::OrderRecord;
pub use toystore_frontend::client::FrontendError;

/// Set in the environment, a test's store keeps its data directory (files and logs)
/// instead of removing it, and says where it is.
pub const KEEP: &str = "TOYSTORE_KEEP_TEST_DIR";

/// How long one request to the store may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a store may take to start or a replica to recover on a slow machine.
pub const READY: Duration = Duration::from_secs(60);

/// A store on free ports in a temporary directory (removed on drop, after the processes).
pub struct Store {
    /// The running processes (killed on drop).
    pub cluster: Cluster,
    /// A client of the store, cheap to clone into client tasks.
    pub shop: Shop,
    /// The data directory's owner (declared last: removed after the processes are gone).
    pub dir: tempfile::TempDir,
}

/// A client of the store's front-end and replicas.
#[derive(Clone)]
pub struct Shop {
    /// A keep-alive HTTP client (for the replicas and raw requests).
    pub http: reqwest::Client,
    /// The front-end's typed client (its base URL is the shop's, see [`Shop::base`]).
    pub frontend: FrontendClient,
    /// The replicas' typed clients (each knows its id and base URL).
    pub replicas: Vec<ReplicaClient>,
    /// The cluster token (for internal endpoints).
    pub token: String,
}

/// A store with a given spec tweak (e.g. an armed failpoint).
pub async fn start_with(node: &str, tweak: impl FnOnce(&mut ClusterSpec)) -> anyhow::Result<Store> {
    start_spec(node, default_catalogs()?, tweak).await
}

/// Set in the environment to a number, the catalog replicas of every store a test starts
/// without asking for a number of its own (1 when unset): the whole suite runs against a
/// replicated catalog with `TOYSTORE_TEST_CATALOGS=3`.
pub const CATALOGS: &str = "TOYSTORE_TEST_CATALOGS";

/// The catalog replicas a store has unless its test asks for a number ([`CATALOGS`]).
pub fn default_catalogs() -> anyhow::Result<u32> {
    match std::env::var(CATALOGS) {
        Err(_) => Ok(1),
        Ok(n) => n
            .parse()
            .ok()
            .filter(|n| (1..=7).contains(n))
            .with_context(|| format!("{CATALOGS}={n:?}: expected a number from 1 to 7")),
    }
}

/// A store with `catalogs` catalog replicas and a spec tweak.
async fn start_spec(
    node: &str,
    catalogs: u32,
    tweak: impl FnOnce(&mut ClusterSpec),
) -> anyhow::Result<Store> {
    let mut dir = tempfile::tempdir()?;
    if std::env::var_os(KEEP).is_some() {
        dir.disable_cleanup(true);
        eprintln!("{KEEP}: keeping {}", dir.path().display());
    }
    let mut spec = ClusterSpec::on_free_ports_with_catalogs(
        PathBuf::from(node),
        Vec::new(),
        dir.path(),
        catalogs,
    )?;
    spec.env.push(("RUST_LOG".into(), "info".into()));
    tweak(&mut spec);
    let cluster = Cluster::start(spec, READY).await?;
    let http = toystore_http::tls::configure(reqwest::Client::builder())
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    let mut shop = Shop {
        http,
        frontend: FrontendClient::with_timeout(&cluster.frontend_url(), REQUEST_TIMEOUT)?,
        replicas: Vec::new(),
        token: cluster.config().token.clone(),
    };
    for id in cluster.replica_ids() {
        shop.add_replica(id, &cluster.url(Service::Order(id)))?;
    }
    Ok(Store { cluster, shop, dir })
}

impl Store {
    /// A replica's redb file.
    pub fn order_db(&self, id: u32) -> PathBuf {
        self.cluster.config().order_db(id)
    }

    /// Stops the store and returns every replica's raw order log, checking that the
    /// processes stopped cleanly.
    pub async fn stop_and_read_logs(self) -> anyhow::Result<Vec<Vec<(Seq, Vec<u8>)>>> {
        let ids = self.cluster.replica_ids();
        let paths: Vec<PathBuf> = ids.iter().map(|id| self.order_db(*id)).collect();
        let unclean = self.cluster.stop(Duration::from_secs(10)).await;
        anyhow::ensure!(
            unclean.is_empty(),
            "services did not stop cleanly: {unclean:?}"
        );
        let logs = paths.iter().map(|p| raw_log(p)).collect();
        drop(self.dir);
        logs
    }

    /// Stops the store and reads what every test of the replicated catalog checks at its
    /// end, after checking that the processes stopped cleanly, that the catalog replicas'
    /// files are identical (`tools diff`'s comparison) and that order replica 1's orders
    /// are gap-free.
    pub async fn stop_with_equal_catalogs(self) -> anyhow::Result<Ended> {
        let files: Vec<PathBuf> = self
            .cluster
            .catalog_ids()
            .into_iter()
            .map(|id| self.cluster.config().catalog_db(id))
            .collect();
        let orders = self.order_db(1);
        let unclean = self.cluster.stop(Duration::from_secs(10)).await;
        anyhow::ensure!(unclean.is_empty(), "did not stop cleanly: {unclean:?}");
        let report = toystore_harness::diff::diff_files(&files)?;
        anyhow::ensure!(
            report.identical(),
            "catalog files differ:\n{}",
            report.to_text()
        );
        let orders: Vec<OrderEvent> = raw_log(&orders)?
            .iter()
            .map(|(_, b)| toystore_events::decode(b))
            .collect::<Result<_, _>>()?;
        assert_gap_free(&orders);
        let ordered = orders
            .iter()
            .map(|OrderEvent::OrderPlaced { request_id, .. }| request_id.as_str().to_owned())
            .collect();
        let mut catalogs = Vec::new();
        for path in &files {
            let events = raw_catalog_log(path)?
                .iter()
                .map(|(_, b)| toystore_events::decode(b))
                .collect::<Result<_, _>>()?;
            catalogs.push(CatalogFile {
                name: path.display().to_string(),
                events,
                stock: catalog_stock(path)?,
            });
        }
        drop(self.dir);
        Ok(Ended { ordered, catalogs })
    }
}

/// What a test of the replicated catalog reads at its end
/// ([`Store::stop_with_equal_catalogs`]).
#[derive(Debug)]
pub struct Ended {
    /// The request ids of order replica 1's orders (gap-free).
    pub ordered: std::collections::BTreeSet<String>,
    /// Each catalog replica's file, in id order.
    pub catalogs: Vec<CatalogFile>,
}

/// One catalog replica's file, read.
#[derive(Debug)]
pub struct CatalogFile {
    /// Its path, for messages.
    pub name: String,
    /// Its events, decoded.
    pub events: Vec<CatalogEvent>,
    /// Its stock table: toy → units.
    pub stock: BTreeMap<String, u64>,
}

impl Shop {
    /// The same shop through another front-end (same replicas and token).
    pub fn for_frontend(&self, base: &str) -> anyhow::Result<Shop> {
        Ok(Shop {
            frontend: FrontendClient::with_timeout(base, REQUEST_TIMEOUT)?,
            ..self.clone()
        })
    }

    /// The front-end's base URL (without a trailing `/`).
    pub fn base(&self) -> String {
        self.frontend
            .base()
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// The front-end's URL of `path` (for raw requests: pages, `/events`, `/metrics`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// `POST /orders` with an idempotency key: the order number, or why not.
    pub async fn buy(&self, key: &str, name: &str, quantity: u32) -> Result<u64, FrontendError> {
        let placed = self.frontend.buy(name, quantity, Some(key)).await?;
        Ok(placed.order_number.get())
    }

    /// Buys, retrying with the same key on 503 or a transport error (the harness's
    /// [`Buyer`]) until `deadline` passes; returns the order number and how many attempts
    /// failed first.
    pub async fn buy_until_placed(
        &self,
        key: &str,
        name: &str,
        quantity: u32,
        deadline: Duration,
    ) -> anyhow::Result<(u64, u32)> {
        let retry = Retry::within(deadline, Duration::from_millis(50));
        let purchase = Buyer::new(self.frontend.clone(), retry)
            .buy(key, name, quantity)
            .await;
        let failures = u32::try_from(purchase.retried.len()).unwrap_or(u32::MAX);
        match purchase.bought {
            Bought::Placed(n) => Ok((n, failures)),
            Bought::Unknown(e) if retryable(&e) => {
                anyhow::bail!("buy {key} not placed before the deadline: {e}")
            }
            // A malformed reply is a failure of the store, not a moment to wait out.
            Bought::Refused(e) | Bought::Unknown(e) => anyhow::bail!("buy {key}: {e}"),
        }
    }

    /// `GET /orders/<n>`: the order, or why not.
    pub async fn order(&self, number: u64) -> Result<OrderRecord, FrontendError> {
        self.frontend.order(number).await
    }

    /// The quantity in stock of a toy, from the front-end.
    pub async fn quantity(&self, name: &str) -> anyhow::Result<u64> {
        let product = self
            .frontend
            .product(name)
            .await
            .with_context(|| format!("querying {name}"))?;
        Ok(u64::from(product.quantity))
    }

    /// The front-end's `GET /internal/metrics` (with the cluster token).
    pub async fn frontend_metrics(&self) -> anyhow::Result<InternalMetrics> {
        let token = ClusterToken::new(self.token.clone()).context("the cluster token is empty")?;
        Ok(self.frontend.internal_metrics(&token).await?)
    }

    /// Adds replica `id` at `base` (e.g. one the test just added to the cluster file).
    pub fn add_replica(&mut self, id: u32, base: &str) -> anyhow::Result<()> {
        let token = ClusterToken::new(self.token.clone()).context("the cluster token is empty")?;
        // Every call (health included) may take as long as any request of the shop: a slow
        // answer on a loaded machine is still an answer.
        let timeouts = toystore_config::Timeouts {
            request: REQUEST_TIMEOUT,
            health: REQUEST_TIMEOUT,
            ..Default::default()
        };
        self.replicas
            .push(ReplicaClient::with_timeouts(id, base, token, &timeouts)?);
        Ok(())
    }

    /// The replicas' ids.
    pub fn replica_ids(&self) -> Vec<u32> {
        self.replicas.iter().map(ReplicaClient::id).collect()
    }

    /// Replica `id`'s typed client.
    pub fn replica_client(&self, id: u32) -> Option<&ReplicaClient> {
        self.replicas.iter().find(|r| r.id() == id)
    }

    /// A replica's base URL (without a trailing `/`; empty for an unknown id).
    pub fn replica(&self, id: u32) -> String {
        self.replica_client(id)
            .map(|r| r.base().as_str().trim_end_matches('/').to_string())
            .unwrap_or_default()
    }

    /// A service's Prometheus `/metrics` at `base` (no token: it is public), parsed; its
    /// status must be 200 and its type text.
    pub async fn scrape(&self, base: &str) -> anyhow::Result<prometheus_parse::Scrape> {
        let resp = self.http.get(format!("{base}/metrics")).send().await?;
        anyhow::ensure!(resp.status() == 200, "{base}/metrics: {}", resp.status());
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        anyhow::ensure!(
            content_type.contains("text"),
            "{base}/metrics: {content_type}"
        );
        let text = resp.text().await?;
        Ok(prometheus_parse::Scrape::parse(
            text.lines().map(|l| Ok(l.to_string())),
        )?)
    }

    /// What replica `id` says about itself (`GET /health`), or `None` if it does not answer
    /// (or is not one of the shop's replicas).
    pub async fn health(&self, id: u32) -> Option<ReplicaStatus> {
        self.replica_client(id)?.health().await.ok()
    }

    /// Polls the health of replicas `ids` until `done` holds for what they said (in the
    /// order of `ids`; `None`: no answer) and returns it; fails with what they said last
    /// after `timeout`.
    pub async fn wait_health(
        &self,
        ids: &[u32],
        timeout: Duration,
        done: impl Fn(&[Option<ReplicaStatus>]) -> bool,
    ) -> anyhow::Result<Vec<Option<ReplicaStatus>>> {
        // The last answers, for the error if `done` never holds.
        let last = std::sync::Mutex::new(Vec::new());
        let what = format!("replicas {ids:?} did not get there");
        let said = poll_until(timeout, &what, || async {
            let said = futures_util::future::join_all(ids.iter().map(|id| self.health(*id))).await;
            if done(&said) {
                return Some(said);
            }
            *last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = said;
            None
        })
        .await;
        said.with_context(|| {
            let last = last
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            format!("they said last: {last:?}")
        })
    }

    /// Waits until every replica is ready and holds `last_seq` orders.
    pub async fn wait_converged(&self, last_seq: u64, timeout: Duration) -> anyhow::Result<()> {
        let ids = self.replica_ids();
        self.wait_health(&ids, timeout, |said| {
            said.iter().all(|h| {
                h.as_ref()
                    .is_some_and(|h| h.ready && h.last_seq.0 == last_seq)
            })
        })
        .await
        .with_context(|| format!("replicas did not converge on {last_seq} orders"))?;
        Ok(())
    }
}

/// Every event of a (stopped) replica's order log, as stored bytes.
pub fn raw_log(path: &Path) -> anyhow::Result<Vec<(Seq, Vec<u8>)>> {
    let log: EventLog<OrderEvent> =
        EventLog::open_existing(path, toystore_order::projection::OrderProjection)?;
    Ok(log.read_raw_after(Seq::ZERO)?.collect::<Result<_, _>>()?)
}

/// Every event of a (stopped) catalog replica's log, as stored bytes.
pub fn raw_catalog_log(path: &Path) -> anyhow::Result<Vec<(Seq, Vec<u8>)>> {
    let log: EventLog<CatalogEvent> =
        EventLog::open_existing(path, toystore_catalog::projection::CatalogProjection)?;
    Ok(log.read_raw_after(Seq::ZERO)?.collect::<Result<_, _>>()?)
}

/// A (stopped) catalog replica's stock table: toy → units.
pub fn catalog_stock(path: &Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let log: EventLog<CatalogEvent> =
        EventLog::open_existing(path, toystore_catalog::projection::CatalogProjection)?;
    let tables = log.read()?;
    let mut stock = BTreeMap::new();
    for row in tables.open(toystore_catalog::projection::STOCK)?.rows()? {
        let (name, (_, quantity)) = row?;
        stock.insert(name, u64::from(quantity));
    }
    Ok(stock)
}

/// Checks the order-number invariant over a log: order n is the event at seq n + 1.
pub fn assert_gap_free(events: &[OrderEvent]) {
    for (i, e) in events.iter().enumerate() {
        let OrderEvent::OrderPlaced { number, .. } = e;
        assert_eq!(
            number.get(),
            i as u64,
            "order numbers must be 0, 1, 2, ... with no gap"
        );
    }
}

pub use toystore_config::Election;

/// A store with `catalogs` catalog replicas whose order replicas use election policy
/// `election`, with a spec tweak.
pub async fn start_catalogs(
    node: &str,
    catalogs: u32,
    election: Election,
    tweak: impl FnOnce(&mut ClusterSpec),
) -> anyhow::Result<Store> {
    start_spec(node, catalogs, |spec| {
        spec.config.order.election = election;
        tweak(spec);
    })
    .await
}

/// A store whose order replicas use election policy `election`, with a spec tweak.
pub async fn start_in(
    node: &str,
    election: Election,
    tweak: impl FnOnce(&mut ClusterSpec),
) -> anyhow::Result<Store> {
    start_catalogs(node, default_catalogs()?, election, tweak).await
}

/// The value of `metric` in `scrape` with all of `labels`, summed over its other labels (0
/// if absent); a histogram counts its observations.
pub fn metric_value(
    scrape: &prometheus_parse::Scrape,
    metric: &str,
    labels: &[(&str, &str)],
) -> f64 {
    use prometheus_parse::Value;
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|sample| match &sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => f64::NAN,
        })
        .sum()
}

/// One purchase a [`buying_clients`] client placed.
#[derive(Debug, Clone)]
pub struct Placed {
    /// Its idempotency key.
    pub key: String,
    /// Its order number.
    pub number: u64,
    /// The toy.
    pub name: &'static str,
    /// The units.
    pub quantity: u32,
    /// The attempts that failed before it was placed.
    pub failed: u32,
}

/// `clients` tasks buying through `shop`, `per_client` purchases each, one after another:
/// client `c`'s `i`-th buys `toys[(c + i) % toys.len()]`, 1 or 2 units in turn, under the
/// key `client<c>-<i>`, retried under that key until placed (a minute at most; a purchase
/// not placed by then panics its task). `placed` counts the purchases placed so far (for
/// [`wait_placed`]); each task returns its own.
pub fn buying_clients(
    shop: &Shop,
    clients: usize,
    per_client: usize,
    toys: &'static [&'static str],
    placed: &std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Vec<tokio::task::JoinHandle<Vec<Placed>>> {
    (0..clients)
        .map(|c| {
            let (shop, placed) = (shop.clone(), placed.clone());
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..per_client {
                    let name = toys[(c + i) % toys.len()];
                    let quantity = 1 + (i % 2) as u32;
                    let key = format!("client{c}-{i}");
                    let (number, failed) = shop
                        .buy_until_placed(&key, name, quantity, Duration::from_secs(60))
                        .await
                        .unwrap_or_else(|e| panic!("{e:#}"));
                    placed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    mine.push(Placed {
                        key,
                        number,
                        name,
                        quantity,
                        failed,
                    });
                }
                mine
            })
        })
        .collect()
}

/// Waits (at most [`READY`]) until a counter of placed orders reaches `n`.
pub async fn wait_placed(placed: &std::sync::atomic::AtomicU64, n: u64) {
    let what = format!("{n} orders placed");
    toystore_harness::probe::poll_until(READY, &what, || async {
        (placed.load(std::sync::atomic::Ordering::SeqCst) >= n).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
}
