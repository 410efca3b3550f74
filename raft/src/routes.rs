//! The Raft routes between replicas (wire in [`crate::wire`]), behind the cluster token:
//! `append`, `vote`, `position`, `pristine` and `rejoin` take a postcard body and answer
//! postcard; `snapshot` takes a transfer ([`crate::transfer`]); `GET backup` streams a copy
//! of the state machine ([`crate::backup`]). A body that does not decode
//! is a 400; Raft's refusal is a 503 with [`RAFT_ERROR_HEADER`] and the error's JSON. A
//! replica not admitted yet ([`crate::founding`]) answers `append`, `vote` and `snapshot`
//! with a 503 that says so, and Raft never sees them; nor does a replica whose disk is below
//! its reserve (`crate::disk`) take `append` or `snapshot`.

use crate::node::Node;
use crate::wire::{NOT_ADMITTED_HEADER, RAFT_ERROR_HEADER, SNAPSHOT_HEADER};
use crate::Types;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::future::Future;
use std::sync::Arc;
use toystore_config::ReplicaId;
use toystore_events::LogEvent;
use toystore_http::reply::respond;
use toystore_http::{body, ApiError};
use toystore_raft_api::LEADER_HEADER;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection, Reply};

/// Largest Raft message accepted (an append batch).
const MAX_RAFT_BODY: usize = 64 << 20;

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

/// What a replica not admitted yet ([`crate::founding`]) answers a vote, entries or a
/// snapshot: a 503 (not a Raft refusal) that says why, with [`NOT_ADMITTED_HEADER`].
fn not_admitted<C: Types, E: LogEvent>(node: &Node<C, E>) -> Response {
    let mut resp = respond::<()>(Err(ApiError::unavailable(format!(
        "replica {} is not admitted yet: it started with an empty log and takes no part in \
         its group until the leader holds it as no voter, or a majority of its peers answer \
         from the group's founding",
        node.id()
    ))));
    resp.headers_mut()
        .insert(NOT_ADMITTED_HEADER, HeaderValue::from_static("1"));
    resp
}

/// What a replica whose disk is below its reserve ([`crate::disk`]) answers entries or a
/// snapshot: a 503 with [`NOT_ADMITTED_HEADER`] (the leader counts it as unreachable and
/// catches it up once its disk is back).
fn disk_low(low: crate::disk::Low) -> Response {
    let mut resp = respond::<()>(Err(ApiError::unavailable(format!(
        "this replica takes no entries now: {low}"
    ))));
    resp.headers_mut()
        .insert(NOT_ADMITTED_HEADER, HeaderValue::from_static("1"));
    resp
}

/// Who a route answers: every replica, only an admitted one, or only one that takes
/// entries (admitted, and its disk not below the reserve).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answers {
    Always,
    Admitted,
    TakingEntries,
}

/// The refusal of a route `answers` on replica `n`, if it refuses now.
fn refusal<C: Types, E: LogEvent>(answers: Answers, n: &Node<C, E>) -> Option<Response> {
    match answers {
        Answers::Always => None,
        Answers::Admitted | Answers::TakingEntries if !n.admitted() => Some(not_admitted(n)),
        Answers::Admitted => None,
        Answers::TakingEntries => n.disk().check().err().map(disk_low),
    }
}

fn decode<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    postcard::from_bytes(bytes).map_err(|e| ApiError::bad_request(format!("bad raft message: {e}")))
}

/// `POST /internal/raft/<name>`: the postcard body decoded as `Req` and handed to `call`
/// with the node, the result encoded by [`raft_reply`]; a body that does not decode is a
/// 400; a route that answers an admitted replica only, or one that takes entries, refuses
/// with a 503 ([`not_admitted`], [`disk_low`]) before its body is decoded.
fn raft_route<C, E, Req, F, Fut, T, Er>(
    name: &'static str,
    answers: Answers,
    node: Arc<Node<C, E>>,
    auth: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
    call: F,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone
where
    C: Types,
    E: LogEvent,
    Req: DeserializeOwned + Send + 'static,
    F: Fn(Arc<Node<C, E>>, Req) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Er>> + Send,
    T: Serialize,
    Er: Serialize,
{
    warp::path("internal")
        .and(warp::path("raft"))
        .and(warp::path(name))
        .and(warp::path::end())
        .and(warp::post())
        .and(auth)
        .and(body::bytes(MAX_RAFT_BODY))
        .and(warp::any().map(move || node.clone()))
        .then(move |b: Bytes, n: Arc<Node<C, E>>| {
            let call = call.clone();
            async move {
                if let Some(refused) = refusal(answers, &n) {
                    return refused;
                }
                match decode::<Req>(&b) {
                    Ok(req) => raft_reply(call(n, req).await),
                    Err(e) => respond::<()>(Err(e)),
                }
            }
        })
}

/// The Raft routes of `node`, behind `auth`.
pub fn routes<C: Types, E: LogEvent>(
    node: Arc<Node<C, E>>,
    auth: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    let append = raft_route(
        "append",
        Answers::TakingEntries,
        node.clone(),
        auth.clone(),
        |n, req| async move { n.raft().append_entries(req).await },
    );
    let vote = raft_route(
        "vote",
        Answers::Admitted,
        node.clone(),
        auth.clone(),
        |n, req| async move { n.raft().vote(req).await },
    );
    let position = raft_route(
        "position",
        Answers::Always,
        node.clone(),
        auth.clone(),
        |n, ()| async move { n.store().snapshot_position().map_err(|e| e.to_string()) },
    );
    let pristine = raft_route(
        "pristine",
        Answers::Always,
        node.clone(),
        auth.clone(),
        |n, ()| async move {
            crate::founding::standing(n.store())
                .await
                .map_err(|e| e.to_string())
        },
    );
    let rejoin = raft_route(
        "rejoin",
        Answers::Always,
        node.clone(),
        auth.clone(),
        |n, id: ReplicaId| async move {
            crate::rejoin::take_out(&n, id, crate::rejoin::TAKE_OUT_TIMEOUT).await
        },
    );
    let backup = crate::backup::route(node.clone(), auth.clone());
    let snapshot = warp::path!("internal" / "raft" / "snapshot")
        .and(warp::post())
        .and(auth)
        .and(warp::header::<String>(SNAPSHOT_HEADER))
        .and(warp::body::stream())
        .and(warp::any().map(move || node.clone()))
        .then(|header: String, body, n: Arc<Node<C, E>>| async move {
            if let Some(refused) = refusal(Answers::TakingEntries, &n) {
                return refused;
            }
            match crate::transfer::receive(n, header, Box::pin(body)).await {
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
    append
        .or(vote)
        .unify()
        .or(position)
        .unify()
        .or(pristine)
        .unify()
        .or(rejoin)
        .unify()
        .or(snapshot)
        .unify()
        .or(backup)
        .unify()
}

/// `resp` naming `leader` in its [`LEADER_HEADER`] (a 421's hint), if there is one.
pub fn with_leader_hint(mut resp: Response, leader: Option<ReplicaId>) -> Response {
    if let Some(id) = leader {
        resp.headers_mut()
            .insert(LEADER_HEADER, HeaderValue::from(id));
    }
    resp
}

/// `GET /health` and `GET /ready` of a replica (no token), from its status as `status` says
/// it at each request. `/health` answers it whenever the process serves; `/ready` answers
/// it with 200 when the replica should take traffic and a 503 saying why when not
/// ([`toystore_raft_api::ReplicaStatus::not_ready`]): what a load balancer's or Kubernetes'
/// readiness probe asks.
pub fn status_routes<F>(status: F) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone
where
    F: Fn() -> toystore_raft_api::ReplicaStatus + Clone + Send + Sync + 'static,
{
    let said = status.clone();
    let health = warp::path!("health")
        .and(warp::get())
        .map(move || respond(Ok(said())));
    let ready = warp::path!("ready")
        .and(warp::get())
        .map(move || readiness(status()));
    health.or(ready).unify()
}

fn readiness(status: toystore_raft_api::ReplicaStatus) -> Response {
    match status.not_ready() {
        None => respond(Ok(status)),
        Some(why) => respond::<()>(Err(ApiError::unavailable(format!(
            "replica {} is not ready: {why}",
            status.id
        )))),
    }
}
