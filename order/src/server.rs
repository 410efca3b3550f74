//! A replica's HTTP server (endpoints in `toystore_order_api::wire` and [`crate::raft_wire`]); every endpoint but `/health`
//! demands the cluster token. The only place where the order rules' error types become
//! HTTP status codes.

use crate::apply::Orders;
use crate::error::{PlaceError, ReadError};
use crate::membership::{book_of, members_of};
use crate::network::{AddressBook, Network};
use crate::raft_wire::RAFT_ERROR_HEADER;
use crate::replica::{open_store, Replica};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::CatalogClient;
use toystore_config::{OrderConfig, ReplicaId, Timeouts};
use toystore_events::OrderNumber;
use toystore_events::Purchase;
use toystore_http::client::ClientError;
use toystore_http::reply::respond;
use toystore_http::{body, ApiError, ClusterToken};
use toystore_order_api::ReplicaClient;
use toystore_order_api::LEADER_HEADER;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Largest Raft message accepted (an append batch or a snapshot chunk).
const MAX_RAFT_BODY: usize = 64 << 20;

/// How a replica runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// This replica's id.
    pub id: ReplicaId,
    /// Its redb file.
    pub db_path: PathBuf,
    /// Every replica of the cluster file (this one included): (id, address).
    pub replicas: Vec<(ReplicaId, SocketAddr)>,
    /// The catalog's base URL.
    pub catalog_url: String,
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
    /// The storage could not be opened.
    #[error(transparent)]
    Store(#[from] toystore_store::StoreError),
    /// A client could not be built.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The Raft settings are invalid.
    #[error("raft config: {0}")]
    Config(#[from] Box<openraft::ConfigError>),
    /// Raft failed to start or initialise.
    #[error("raft: {0}")]
    Raft(String),
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
        CatalogClient::with_timeouts(&config.catalog_url, config.token.clone(), &config.timeouts)?;
    let store = {
        let path = config.db_path.clone();
        tokio::task::spawn_blocking(move || open_store(&path))
            .await
            .map_err(|e| toystore_store::StoreError::Io(std::io::Error::other(e)))??
    };
    let book = AddressBook::new(book_of(&config.replicas));
    let members = members_of(&config.replicas);
    let http = toystore_http::client::http_client(config.timeouts.raft_rpc)?;
    let network = Network::new(http, config.token.clone(), book.clone());
    let transfers = network.transfer_counts();
    let raft = openraft::Raft::new(
        id,
        crate::raft_node::raft_config(&config.raft)?,
        network,
        store.log_store(),
        store.state_machine(Orders),
    )
    .await
    .map_err(|e| ServeError::Raft(e.to_string()))?;
    let peers = config
        .replicas
        .iter()
        .filter(|(rid, _)| *rid != config.id)
        .map(|(rid, addr)| {
            ReplicaClient::with_timeouts(
                *rid,
                &format!("http://{addr}"),
                config.token.clone(),
                &config.timeouts,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let founding = tokio::spawn({
        let (raft, members, stop) = (raft.clone(), members.clone(), stop.clone());
        async move {
            if let Err(e) = crate::raft_node::found_or_join(raft, members, peers, stop).await {
                tracing::error!(error = %e, "could not initialise the order cluster");
            }
        }
    });
    let (desired_tx, desired) = watch::channel(config.replicas.clone());
    if let Some(path) = config.watch.clone() {
        let watched =
            toystore_config::watch::watch_cluster_file(path.clone(), stop.clone(), move |c| {
                desired_tx.send_replace(c.replicas.iter().map(|r| (r.id, r.addr)).collect());
            });
        if let Err(e) = watched {
            tracing::warn!(path = %path.display(), error = %e, "cannot watch the cluster file; replica changes need a restart");
        }
    }
    let pace = crate::membership::Pace {
        every: config.raft.reconcile_every,
        call_timeout: config.timeouts.membership,
    };
    let following = tokio::spawn(crate::membership::follow(
        raft.clone(),
        book,
        desired,
        pace,
        stop.clone(),
    ));
    let write_timeout = config.raft.write_timeout;
    let replica = Arc::new(Replica::new(
        id,
        raft.clone(),
        store,
        catalog.clone(),
        write_timeout,
        transfers,
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
    let _ = founding.await;
    let _ = following.await;
    let _ = completing.await;
    if let Err(e) = raft.shutdown().await {
        tracing::warn!(error = %e, "raft did not shut down cleanly");
    }
    tracing::info!(replica = config.id, "replica stopped");
    Ok(())
}

fn place_error(e: PlaceError) -> Response {
    let status = e.refusal().status();
    let hint = match &e {
        PlaceError::NotLeader { leader } => *leader,
        _ => None,
    };
    with_hint(
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
    with_hint(
        respond::<()>(Err(ApiError::new(status, e.to_string()))),
        hint,
    )
}

fn with_hint(mut resp: Response, leader: Option<ReplicaId>) -> Response {
    if let Some(id) = leader {
        resp.headers_mut()
            .insert(LEADER_HEADER, HeaderValue::from(id));
    }
    resp
}

/// A Raft route's reply: postcard on success; 503, [`RAFT_ERROR_HEADER`] and the error's
/// JSON when Raft refused.
fn raft_reply<T: Serialize, E: Serialize>(result: Result<T, E>) -> Response {
    match result {
        Ok(v) => match postcard::to_allocvec(&v) {
            Ok(bytes) => {
                warp::reply::with_header(bytes, "content-type", "application/octet-stream")
                    .into_response()
            }
            Err(e) => respond::<()>(Err(ApiError::internal(format!("encoding reply: {e}")))),
        },
        Err(e) => {
            let body = match serde_json::to_vec(&e) {
                Ok(body) => body,
                Err(e) => {
                    return respond::<()>(Err(ApiError::internal(format!(
                        "encoding a raft error: {e}"
                    ))))
                }
            };
            let mut resp =
                warp::reply::with_status(body, StatusCode::SERVICE_UNAVAILABLE).into_response();
            resp.headers_mut()
                .insert(RAFT_ERROR_HEADER, HeaderValue::from_static("1"));
            resp
        }
    }
}

fn decode<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    postcard::from_bytes(bytes).map_err(|e| ApiError::bad_request(format!("bad raft message: {e}")))
}

/// `POST /internal/raft/<name>`: the postcard body decoded as `Req` and handed to `call`
/// on the replica's Raft, the result encoded by [`raft_reply`]; a body that does not decode
/// is a 400.
fn raft_route<Req, F, Fut, T, E>(
    name: &'static str,
    replica: Arc<Replica>,
    auth: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
    call: F,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone
where
    Req: DeserializeOwned + Send + 'static,
    F: Fn(Arc<Replica>, Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, E>> + Send,
    T: Serialize,
    E: Serialize,
{
    warp::path("internal")
        .and(warp::path("raft"))
        .and(warp::path(name))
        .and(warp::path::end())
        .and(warp::post())
        .and(auth)
        .and(body::bytes(MAX_RAFT_BODY))
        .and(warp::any().map(move || replica.clone()))
        .then(move |b: Bytes, r: Arc<Replica>| {
            let call = call.clone();
            async move {
                match decode::<Req>(&b) {
                    Ok(req) => raft_reply(call(r, req).await),
                    Err(e) => respond::<()>(Err(e)),
                }
            }
        })
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

    let health = warp::path!("health")
        .and(warp::get())
        .and(with())
        .map(|r: Arc<Replica>| respond(Ok(r.status())));

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

    let append = raft_route(
        "append",
        replica.clone(),
        auth.clone(),
        |r, req| async move { r.raft().append_entries(req).await },
    );
    let vote = raft_route("vote", replica.clone(), auth.clone(), |r, req| async move {
        r.raft().vote(req).await
    });
    let position = raft_route(
        "position",
        replica.clone(),
        auth.clone(),
        |r, ()| async move { r.store().snapshot_position().map_err(|e| e.to_string()) },
    );
    let snapshot = warp::path!("internal" / "raft" / "snapshot")
        .and(warp::post())
        .and(auth.clone())
        .and(warp::header::<String>(crate::raft_wire::SNAPSHOT_HEADER))
        .and(warp::body::stream())
        .and(with())
        .then(|header: String, body, r: Arc<Replica>| async move {
            match crate::transfer::receive(r, header, Box::pin(body)).await {
                Ok(installed) => raft_reply(installed),
                Err(e @ crate::transfer::ReceiveError::Header(_)) => {
                    respond::<()>(Err(ApiError::bad_request(e.to_string())))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a snapshot transfer failed");
                    respond::<()>(Err(ApiError::unavailable(e.to_string())))
                }
            }
        });

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

    health
        .or(place)
        .unify()
        .or(get_order)
        .unify()
        .or(append)
        .unify()
        .or(vote)
        .unify()
        .or(position)
        .unify()
        .or(snapshot)
        .unify()
        .or(campaign)
        .unify()
}
