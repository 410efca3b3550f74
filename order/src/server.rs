//! A replica's HTTP server (endpoints in `toystore_order_api::wire`, and the Raft routes of
//! `toystore_raft::routes`); every endpoint but `/health` and `/ready` demands the cluster token. The only
//! place where the order rules' error types become HTTP status codes.

use crate::apply::Orders;
use crate::error::{PlaceError, ReadError};
use crate::replica::{open_store, Replica};
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::CatalogClient;
use toystore_config::{ClusterConfig, Election, OrderConfig, ReplicaId, ServiceAddr, Timeouts};
use toystore_events::OrderNumber;
use toystore_events::Purchase;
use toystore_http::client::ClientError;
use toystore_http::reply::respond;
use toystore_http::stages::Stage;
use toystore_http::{body, ApiError, ClusterToken};
use toystore_raft::membership::Replicas;
use toystore_raft::node::{NodeConfig, StartError};
use toystore_raft::routes::with_leader_hint;
use toystore_raft::settings::Timing;
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Rejection};

/// How a replica runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// This replica's id.
    pub id: ReplicaId,
    /// Its redb file.
    pub db_path: PathBuf,
    /// Every replica of the cluster file (this one included): (id, address).
    pub replicas: Vec<(ReplicaId, ServiceAddr)>,
    /// The catalog replicas: (id, base URL).
    pub catalogs: Vec<(ReplicaId, String)>,
    /// How long the catalog's event stream may stay silent before it is reopened
    /// ([`toystore_config::CatalogConfig::stream_silence`]).
    pub catalog_silence: std::time::Duration,
    /// The cluster token.
    pub token: ClusterToken,
    /// Raft settings.
    pub raft: OrderConfig,
    /// Timeouts of calls to the catalog and the other replicas.
    pub timeouts: Timeouts,
    /// The cluster file to watch for replica changes, if any.
    pub watch: Option<PathBuf>,
}

/// Errors starting a replica.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The replica's file could not be opened, or its Raft node did not start.
    #[error(transparent)]
    Start(#[from] StartError),
}

/// The order group's Raft timing, from the cluster file's `[order]` section.
pub fn timing(settings: &OrderConfig) -> Timing {
    Timing::of(
        "toystore-orders",
        settings,
        settings.election == Election::Raft,
    )
}

/// The order replicas of a cluster file: (id, address).
pub fn order_replicas(cluster: &ClusterConfig) -> Replicas {
    cluster
        .replicas
        .iter()
        .map(|r| (r.id, r.addr.clone()))
        .collect()
}

/// Opens the replica, starts its Raft node (initialising the cluster on first start), and
/// serves until `shutdown` completes; then stops Raft.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let stop = CancellationToken::new();
    let id = config.id;
    let catalog =
        CatalogClient::of_replicas(&config.catalogs, config.token.clone(), &config.timeouts)?;
    let node_config = NodeConfig::of(
        id,
        config.replicas.clone(),
        config.token.clone(),
        timing(&config.raft),
        &config.raft,
        &config.timeouts,
        config.watch.clone(),
        order_replicas,
    );
    let (started, stages) = toystore_raft::node::open_and_start(
        node_config,
        config.db_path.clone(),
        open_store,
        Orders,
        Stage::OrderApply,
        stop.clone(),
    )
    .await?;
    let write_timeout = config.raft.write_timeout;
    let replica = Arc::new(Replica::new(
        started.node.clone(),
        catalog.clone(),
        write_timeout,
        stages,
    ));
    let pacing = crate::complete::Pacing {
        after: config.raft.complete_after,
        check_every: config.timeouts.completion_check,
        backoff: toystore_config::Backoff::reconnect(&config.timeouts),
        silence: config.catalog_silence,
    };
    let completing = tokio::spawn(crate::complete::run(
        replica.clone(),
        catalog,
        pacing,
        stop.clone(),
    ));
    tracing::info!(replica = config.id, election = %config.raft.election, addr = ?listener.local_addr().ok(), last_seq = %replica.store().event_log().last_seq(), "replica serving");
    let (registry, http) = crate::metrics::registry(replica.clone());
    let routes = routes(replica, config.token)
        .or(toystore_http::metrics::route(Arc::new(registry)))
        .unify();
    // Cancels `stop` when it returns, which ends the tasks below.
    toystore_http::serve_until(listener, routes, shutdown, stop.clone(), http).await;
    let _ = completing.await;
    started.stop().await;
    tracing::info!(replica = config.id, "replica stopped");
    Ok(())
}

fn place_error(e: PlaceError) -> Response {
    let status = e.refusal().status();
    let hint = match &e {
        PlaceError::NotLeader { leader } => *leader,
        _ => None,
    };
    with_leader_hint(
        respond::<()>(Err(ApiError::new(status, e.to_string()))),
        hint,
    )
}

fn read_error(e: ReadError) -> Response {
    let status = match e.refusal() {
        Some(refusal) => refusal.status(),
        None => {
            tracing::error!(error = %e, "order storage error");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    };
    let hint = match &e {
        ReadError::NotLeader { leader } => *leader,
        _ => None,
    };
    with_leader_hint(
        respond::<()>(Err(ApiError::new(status, e.to_string()))),
        hint,
    )
}

/// The replica's routes.
pub fn routes(
    replica: Arc<Replica>,
    token: ClusterToken,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let with = {
        let replica = replica.clone();
        move || {
            let r = replica.clone();
            warp::any().map(move || r.clone())
        }
    };
    let auth = toystore_http::auth::require(&token);

    let status = {
        let replica = replica.clone();
        toystore_raft::routes::status_routes(move || replica.status())
    };

    let place = warp::path!("internal" / "orders")
        .and(warp::post())
        .and(auth.clone())
        .and(body::json::<Purchase>())
        .and(with())
        .then(|order: Purchase, r: Arc<Replica>| async move {
            // The body's fields are validated types: reading it checked them.
            match r.place(order).await {
                Ok(v) => respond(Ok(v)),
                Err(e) => place_error(e),
            }
        });

    let get_order = warp::path!("internal" / "orders" / String)
        .and(warp::get())
        .and(auth.clone())
        .and(with())
        .then(|raw: String, r: Arc<Replica>| async move {
            let n = match raw.parse::<OrderNumber>() {
                Ok(n) => n,
                Err(e) => return respond::<()>(Err(ApiError::bad_request(e.to_string()))),
            };
            match r.order(n).await {
                Ok(v) => respond(Ok(v)),
                Err(e) => read_error(e),
            }
        });

    let raft = toystore_raft::routes::routes(replica.node().clone(), auth.clone());

    let campaign = warp::path!("internal" / "raft" / "campaign")
        .and(warp::post())
        .and(auth)
        .and(with())
        .then(|r: Arc<Replica>| async move {
            match r.campaign().await {
                Ok(s) => respond(Ok(s)),
                Err(e) => place_error(e),
            }
        });

    status
        .or(place)
        .unify()
        .or(get_order)
        .unify()
        .or(raft)
        .unify()
        .or(campaign)
        .unify()
}
