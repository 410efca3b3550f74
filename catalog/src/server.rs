//! The catalog replica's HTTP server: internal endpoints (see
//! [`toystore_catalog_api::wire`]) and the Raft routes between catalog replicas
//! (`toystore_raft::routes`), the periodic restock and the seeding of a new catalog.
//!
//! Every endpoint but `/health` and `/ready` demands the cluster token. Writes and product reads are the
//! leader's: a follower answers 421 naming the leader it knows of (header
//! `toystore_raft_api::LEADER_HEADER`). The event stream is served by every replica from its applied events
//! (the same events at the same sequence numbers everywhere): it pushes each commit to
//! subscribers as it happens and sends a heartbeat when idle; it ends when the server shuts
//! down. The only place where the catalog's errors become HTTP statuses.

use crate::rules::{BuyOutcome, Rules};
use crate::types::CatalogRaft;
use crate::{Catalog, CatalogError};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::{BuyRefusal, BuyReply, ByName, ProductList, ProductReply, RestockReply};
use toystore_config::{ClusterConfig, OrderConfig, ReplicaId, Timeouts};
use toystore_events::{CatalogEvent, ProductName, Purchase, Seq};
use toystore_http::reply::respond;
use toystore_http::stages::Stage;
use toystore_http::stream::AfterQuery;
use toystore_http::{body, path::decode_segment, ApiError, ClusterToken};
use toystore_raft::membership::Replicas;
use toystore_raft::node::{NodeConfig, StartError, Started};
use toystore_raft::routes::with_leader_hint;
use toystore_raft::settings::Timing;
use toystore_store::raft::RaftStore;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

/// How a catalog replica runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// This replica's id.
    pub id: ReplicaId,
    /// Its redb file.
    pub db_path: PathBuf,
    /// Every catalog replica of the cluster file (this one included): (id, address).
    pub replicas: Replicas,
    /// The cluster token.
    pub token: ClusterToken,
    /// How often sold-out toys are restocked.
    pub restock_interval: Duration,
    /// Units every toy starts with and is restocked to.
    pub stock: u32,
    /// Heartbeat interval of event streams.
    pub heartbeat: Duration,
    /// Raft timing, snapshots and write timeout: the cluster file's `[order]` section,
    /// whose settings the catalog's group shares (it always elects on its own).
    pub raft: OrderConfig,
    /// Timeouts of calls to the other replicas.
    pub timeouts: Timeouts,
    /// The cluster file to watch for catalog replica changes, if any.
    pub watch: Option<PathBuf>,
}

impl ServerConfig {
    /// A catalog of one replica (id 1 at `addr`) on `db_path`, with default Raft settings:
    /// what in-process tests run.
    pub fn alone(db_path: PathBuf, addr: SocketAddr, token: ClusterToken) -> Self {
        Self {
            id: 1,
            db_path,
            replicas: vec![(1, addr.into())],
            token,
            restock_interval: Duration::from_secs(10),
            stock: crate::toys::DEFAULT_STOCK,
            heartbeat: Duration::from_secs(1),
            raft: OrderConfig::default(),
            timeouts: Timeouts::default(),
            watch: None,
        }
    }
}

/// The catalog group's Raft timing: the `[order]` section's, with elections always on.
pub fn timing(settings: &OrderConfig) -> Timing {
    Timing::of("toystore-catalog", settings, true)
}

/// The catalog replicas of a cluster file: (id, address).
pub fn catalog_replicas(cluster: &ClusterConfig) -> Replicas {
    cluster
        .catalogs
        .iter()
        .map(|r| (r.id, r.addr.clone()))
        .collect()
}

/// Errors starting or running a catalog replica.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The replica's file could not be opened, or its Raft node did not start.
    #[error(transparent)]
    Start(#[from] StartError),
    /// A catalog of one replica did not lead with its toys in time.
    #[error("the catalog did not become ready within {0:?}")]
    NotReady(Duration),
}

/// How long [`open_alone`] waits for its catalog to lead with its toys.
pub const ALONE_READY: Duration = Duration::from_secs(10);

/// A catalog of one replica in this process, with no server (for tests and tools that
/// change a catalog file directly): started on `path` and returned once it leads and holds
/// its toys. Stop it ([`Running::stop`]) to release the file.
pub async fn open_alone(path: &Path, stock: u32) -> Result<Running, ServeError> {
    let token =
        ClusterToken::new("in-process catalog").ok_or(ServeError::NotReady(Duration::ZERO))?;
    let config = ServerConfig {
        stock,
        restock_interval: Duration::from_secs(3600),
        ..ServerConfig::alone(
            path.to_path_buf(),
            SocketAddr::from(([127, 0, 0, 1], 0)),
            token,
        )
    };
    let running = start(&config).await?;
    let mut metrics = running.catalog.node().raft().metrics();
    let ready = tokio::time::timeout(ALONE_READY, async {
        while !running.catalog.status().ready || running.catalog.node().leadership().is_err() {
            if metrics.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    match ready {
        Ok(()) if running.catalog.status().ready => Ok(running),
        _ => {
            running.stop().await;
            Err(ServeError::NotReady(ALONE_READY))
        }
    }
}

/// The replica's storage.
pub type CatalogStore = RaftStore<CatalogRaft, CatalogEvent>;

/// Opens a catalog replica's storage (blocking: call from a blocking task).
pub fn open_store(path: &Path) -> Result<CatalogStore, toystore_store::StoreError> {
    RaftStore::open(path, crate::projection::CatalogProjection)
}

/// A catalog replica running in this process: its Raft node's tasks and its own (seeding,
/// restocking), until [`Running::stop`].
pub struct Running {
    /// The replica.
    pub catalog: Arc<Catalog>,
    started: Started<CatalogRaft, CatalogEvent>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: CancellationToken,
}

impl std::ops::Deref for Running {
    type Target = Catalog;
    fn deref(&self) -> &Catalog {
        &self.catalog
    }
}

impl Running {
    /// Stops the tasks and Raft; the file is released when the last handle of the
    /// catalog is dropped.
    pub async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            let _ = task.await;
        }
        self.started.stop().await;
    }
}

/// Opens replica `config.id`'s storage, starts its Raft node (founding the catalog group
/// on first start), and seeds and restocks in the background.
pub async fn start(config: &ServerConfig) -> Result<Running, ServeError> {
    let stop = CancellationToken::new();
    let node_config = NodeConfig::of(
        config.id,
        config.replicas.clone(),
        config.token.clone(),
        timing(&config.raft),
        &config.raft,
        &config.timeouts,
        config.watch.clone(),
        catalog_replicas,
    );
    let (started, stages) = toystore_raft::node::open_and_start(
        node_config,
        config.db_path.clone(),
        open_store,
        Rules,
        Stage::CatalogApply,
        stop.clone(),
    )
    .await?;
    let catalog = Arc::new(Catalog::new(
        started.node.clone(),
        config.stock,
        config.raft.write_timeout,
        stages,
    ));
    let tasks = vec![
        tokio::spawn(seed_when_leading(catalog.clone(), stop.clone())),
        tokio::spawn(restock_loop(
            catalog.clone(),
            config.restock_interval,
            stop.clone(),
        )),
    ];
    Ok(Running {
        catalog,
        started,
        tasks,
        stop,
    })
}

/// Starts the catalog replica and serves it on `listener` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let running = start(&config).await?;
    let catalog = running.catalog.clone();
    let addr = listener.local_addr().ok();
    tracing::info!(replica = config.id, ?addr, seq = %catalog.log().last_seq(), "catalog serving");
    let (registry, http) = crate::metrics::registry(catalog.clone());
    let stop = CancellationToken::new();
    let routes = routes(catalog, config.token, config.heartbeat, stop.clone())
        .or(toystore_http::metrics::route(Arc::new(registry)))
        .unify();
    toystore_http::serve_until(listener, routes, shutdown, stop, http).await;
    running.stop().await;
    tracing::info!(replica = config.id, "catalog stopped");
    Ok(())
}

/// Until the catalog holds its toys: whenever this replica leads, proposes the seed (a
/// second seed from another leader adds nothing).
async fn seed_when_leading(catalog: Arc<Catalog>, stop: CancellationToken) {
    let mut metrics = catalog.node().raft().metrics();
    while catalog.log().last_seq() == Seq::ZERO {
        if catalog.node().leadership().is_ok() {
            match catalog.seed().await {
                Ok(n) => tracing::info!(toys = n, "seeded a new catalog"),
                Err(e) => tracing::warn!(error = %e, "seeding the catalog failed; will retry"),
            }
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
        }
    }
}

/// Every `interval` until `stop`, on the leader (whichever replica leads at each tick: a new leader carries on the
/// schedule), proposes a restock when a toy is sold out.
async fn restock_loop(catalog: Arc<Catalog>, interval: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.cancelled() => return,
        }
        if !catalog.leads_with_sold_out() {
            continue;
        }
        match catalog.restock().await {
            Ok(names) if names.is_empty() => {}
            Ok(names) => tracing::info!(toys = ?names, "restocked"),
            Err(e) => tracing::error!(error = %e, "restock failed"),
        }
    }
}

/// A catalog error as its answer: 421 naming the leader, 503, or 500 for storage.
fn error_reply(e: CatalogError) -> Response {
    match e {
        CatalogError::NotLeader { leader } => with_leader_hint(
            respond::<()>(Err(ApiError::new(
                StatusCode::MISDIRECTED_REQUEST,
                "not the catalog leader",
            ))),
            leader,
        ),
        CatalogError::Unavailable(m) => respond::<()>(Err(ApiError::unavailable(m))),
        CatalogError::Store(e) => {
            tracing::error!(error = %e, "catalog storage error");
            respond::<()>(Err(ApiError::internal("storage error")))
        }
    }
}

/// A result as its answer: the value, or [`error_reply`].
fn answer<T: serde::Serialize>(result: Result<T, CatalogError>) -> Response {
    match result {
        Ok(v) => respond(Ok(v)),
        Err(e) => error_reply(e),
    }
}

/// The catalog's routes (public for in-process tests).
pub fn routes(
    catalog: Arc<Catalog>,
    token: ClusterToken,
    heartbeat: Duration,
    stop: CancellationToken,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let raft =
        toystore_raft::routes::routes(catalog.node().clone(), toystore_http::auth::require(&token));
    let status = {
        let catalog = catalog.clone();
        toystore_raft::routes::status_routes(move || catalog.status())
    };
    let with = move || {
        let c = catalog.clone();
        warp::any().map(move || c.clone())
    };
    let auth = toystore_http::auth::require(&token);

    let list = warp::path!("internal" / "products")
        .and(warp::get())
        .and(auth.clone())
        .and(with())
        .then(|c: Arc<Catalog>| async move {
            answer(
                c.products()
                    .await
                    .map(|(products, seq)| ProductList { seq, products }),
            )
        });

    // One product: by a query parameter (what `CatalogClient` sends: any name survives it
    // exactly, even `.`, `..` and control characters, which a URL path cannot carry), or as
    // a path segment (handy with curl).
    let by_query = warp::path!("internal" / "products")
        .and(warp::get())
        .and(warp::query::<ByName>())
        .map(|q: ByName| Some(q.name));
    let by_path = warp::path!("internal" / "products" / String)
        .and(warp::get())
        .map(|raw: String| decode_segment(&raw));
    let product = by_query
        .or(by_path)
        .unify()
        .and(auth.clone())
        .and(with())
        .then(|name: Option<String>, c: Arc<Catalog>| async move {
            let not_found = || respond::<()>(Err(ApiError::not_found("product not found")));
            // An empty name is no toy's: not found, like any other name that is not a toy.
            let Some(name) = name.and_then(|n| ProductName::try_from(n).ok()) else {
                return not_found();
            };
            match c.product(&name).await {
                Ok((Some(product), seq)) => respond(Ok(ProductReply { seq, product })),
                Ok((None, _)) => not_found(),
                Err(e) => error_reply(e),
            }
        });

    let buy = warp::path!("internal" / "buy")
        .and(warp::post())
        .and(auth.clone())
        .and(body::json::<Purchase>())
        .and(with())
        .then(|req: Purchase, c: Arc<Catalog>| async move { buy(&c, req).await });

    let restock = warp::path!("internal" / "restock")
        .and(warp::post())
        .and(auth.clone())
        .and(with())
        .then(|c: Arc<Catalog>| async move {
            answer(
                c.restock()
                    .await
                    .map(|restocked| RestockReply { restocked }),
            )
        });

    let events = warp::path!("internal" / "events")
        .and(warp::get())
        .and(auth)
        .and(warp::query::<AfterQuery>())
        .and(with())
        .map(move |q: AfterQuery, c: Arc<Catalog>| {
            let frames = toystore_store::follow(
                c.log().clone(),
                Seq(q.after),
                heartbeat,
                stop.clone().cancelled_owned(),
            );
            toystore_http::stream::reply(frames, toystore_http::stream::EVENT_STREAM_TYPE)
        });

    status
        .or(product)
        .unify()
        .or(list)
        .unify()
        .or(buy)
        .unify()
        .or(restock)
        .unify()
        .or(events)
        .unify()
        .or(raft)
        .unify()
}

/// A purchase. Its fields were checked when the body was read (they are validated types).
async fn buy(c: &Catalog, req: Purchase) -> Response {
    match c.buy(req).await {
        Ok(BuyOutcome::Bought { seq, replayed }) => respond(Ok(BuyReply { seq, replayed })),
        Ok(BuyOutcome::NotFound) => refused(BuyRefusal::ProductNotFound),
        Ok(BuyOutcome::InsufficientStock) => refused(BuyRefusal::InsufficientStock),
        Ok(BuyOutcome::Conflict) => refused(BuyRefusal::KeyReused),
        Err(e) => error_reply(e),
    }
}

/// A refused purchase as its answer: the status and message of the API crate's table.
fn refused(refusal: BuyRefusal) -> Response {
    respond::<()>(Err(ApiError::new(refusal.status(), refusal.message())))
}
