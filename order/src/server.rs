//! A replica's HTTP server (endpoints in [`crate::api`]); every endpoint but `/health`
//! demands the cluster token.

use crate::api::{
    LeaderNotice, PlaceOrder, ReplicateReply, EPOCH_HEADER, LAST_HEADER, LEADER_HEADER,
};
use crate::client::ReplicaClient;
use crate::replica::{Replica, Timing};
use bytes::Bytes;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use toystore_catalog::CatalogClient;
use toystore_events::{valid_request_id, Seq, MAX_QUANTITY};
use toystore_net::client::ClientError;
use toystore_net::reply::respond;
use toystore_net::stream::AfterQuery;
use toystore_net::{body, ApiError, ClusterToken};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// Largest replication push accepted.
const MAX_PUSH: usize = 64 << 20;

/// How a replica runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// This replica's id.
    pub id: u32,
    /// Its redb file.
    pub db_path: PathBuf,
    /// The other replicas: (id, base URL).
    pub peers: Vec<(u32, String)>,
    /// The catalog's base URL.
    pub catalog_url: String,
    /// The cluster token.
    pub token: ClusterToken,
    /// Timing.
    pub timing: Timing,
}

/// Errors starting a replica.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The log could not be opened.
    #[error(transparent)]
    Store(#[from] toystore_store::StoreError),
    /// A client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// Opens the replica, recovers in the background, and serves until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let stop = CancellationToken::new();
    let peers = config
        .peers
        .iter()
        .map(|(id, url)| ReplicaClient::new(*id, url, config.token.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let catalog = CatalogClient::new(&config.catalog_url, config.token.clone())?;
    let replica = {
        let (id, path, timing, stop) = (
            config.id,
            config.db_path.clone(),
            config.timing,
            stop.clone(),
        );
        tokio::task::spawn_blocking(move || Replica::open(id, &path, peers, catalog, timing, stop))
            .await
            .map_err(|e| toystore_store::StoreError::Io(std::io::Error::other(e)))??
    };
    let replica = Arc::new(replica);
    tracing::info!(replica = config.id, addr = ?listener.local_addr().ok(), last_seq = %replica.log().last_seq(), "replica serving; recovering");
    let recovery = {
        let r = replica.clone();
        tokio::spawn(async move { r.recover().await })
    };
    let routes = routes(replica, config.token, config.timing, stop.clone());
    toystore_net::serve_until(listener, routes, shutdown, stop).await;
    let _ = recovery.await;
    tracing::info!(replica = config.id, "replica stopped");
    Ok(())
}

/// The replica's routes.
pub fn routes(
    replica: Arc<Replica>,
    token: ClusterToken,
    timing: Timing,
    stop: CancellationToken,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let with = move || {
        let r = replica.clone();
        warp::any().map(move || r.clone())
    };
    let auth = token.require();

    let health = warp::path!("health")
        .and(warp::get())
        .and(with())
        .map(|r: Arc<Replica>| respond(Ok(r.status())));

    let place = warp::path!("internal" / "orders")
        .and(warp::post())
        .and(auth.clone())
        .and(body::json::<PlaceOrder>())
        .and(with())
        .then(|order: PlaceOrder, r: Arc<Replica>| async move {
            if !(1..=MAX_QUANTITY).contains(&order.quantity) {
                return respond::<()>(Err(ApiError::bad_request(
                    "quantity must be from 1 to 1000000",
                )));
            }
            if !valid_request_id(&order.request_id) {
                return respond::<()>(Err(ApiError::bad_request("invalid request id")));
            }
            respond(r.place(order).await)
        });

    let get_order = warp::path!("internal" / "orders" / String)
        .and(warp::get())
        .and(auth.clone())
        .and(with())
        .map(|raw: String, r: Arc<Replica>| {
            respond(
                raw.parse::<u64>()
                    .map_err(|_| ApiError::bad_request("invalid order number"))
                    .and_then(|n| r.order(n)),
            )
        });

    let leader =
        warp::path!("internal" / "leader")
            .and(warp::post())
            .and(auth.clone())
            .and(body::json::<LeaderNotice>())
            .and(with())
            .then(|notice: LeaderNotice, r: Arc<Replica>| async move {
                respond(r.on_notice(notice).await)
            });

    let replicate = warp::path!("internal" / "replicate")
        .and(warp::post())
        .and(auth.clone())
        .and(warp::header::<u64>(EPOCH_HEADER))
        .and(warp::header::<u32>(LEADER_HEADER))
        .and(warp::header::<u64>(LAST_HEADER))
        .and(body::bytes(MAX_PUSH))
        .and(with())
        .then(
            |epoch: u64, leader: u32, last: u64, frames: Bytes, r: Arc<Replica>| async move {
                respond(
                    r.on_replicate(epoch, leader, Seq(last), frames)
                        .await
                        .map(|last_seq| ReplicateReply { last_seq }),
                )
            },
        );

    let events = warp::path!("internal" / "events")
        .and(warp::get())
        .and(auth)
        .and(warp::query::<AfterQuery>())
        .and(with())
        .map(move |q: AfterQuery, r: Arc<Replica>| {
            let frames = toystore_store::follow(
                r.log().clone(),
                Seq(q.after),
                timing.heartbeat,
                stop.clone().cancelled_owned(),
            );
            toystore_net::stream::reply(frames, toystore_net::stream::EVENT_STREAM_TYPE)
        });

    health
        .or(place)
        .unify()
        .or(get_order)
        .unify()
        .or(leader)
        .unify()
        .or(replicate)
        .unify()
        .or(events)
        .unify()
}
