//! `GET /internal/raft/backup` (behind the cluster token): a consistent online copy of this
//! replica's state machine, for `tools backup`.
//!
//! A leader first confirms its leadership with a quorum and waits until everything
//! committed is applied ([`Node::linearize`]), so the copy holds every write acknowledged
//! before the request; a follower's copy holds what it had applied ([`BackupHeader::leader`]
//! says which). The copy is then a snapshot by reference
//! (`toystore_store::raft::RaftStore::view`): its position is read in one read
//! transaction, and its events 1..=S are streamed from another as stream frames
//! ([`crate::transfer::frames`]), with bounded memory. No lock is taken: purchases go on
//! meanwhile, and nothing waits for the copy but the disk's reads.
//!
//! Answers: 200 with [`BACKUP_HEADER`] and the frames; 503 if a leader cannot confirm its
//! leadership, or the file cannot be read; 409 if nothing is applied yet. A read error
//! mid-stream ends the body early, which the receiver detects (fewer events than
//! announced).

use crate::node::Node;
use crate::wire::{BackupHeader, BACKUP_HEADER};
use crate::Types;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use toystore_events::{LogEvent, Seq};
use toystore_http::reply::respond;
use toystore_http::stream::EVENT_STREAM_TYPE;
use toystore_http::ApiError;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Response;
use warp::{Filter, Rejection};

/// How long a leader may take to confirm its leadership before the copy.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);

/// The backup route of `node`, behind `auth`.
pub fn route<C: Types, E: LogEvent>(
    node: Arc<Node<C, E>>,
    auth: impl Filter<Extract = (), Error = Rejection> + Clone + Send + Sync + 'static,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone {
    warp::path!("internal" / "raft" / "backup")
        .and(warp::get())
        .and(auth)
        .and(warp::any().map(move || node.clone()))
        .then(|node: Arc<Node<C, E>>| async move {
            match serve(node).await {
                Ok(resp) => resp,
                Err(e) => respond::<()>(Err(e)),
            }
        })
}

async fn serve<C: Types, E: LogEvent>(node: Arc<Node<C, E>>) -> Result<Response, ApiError> {
    let leader = node.leadership().is_ok();
    if leader {
        node.linearize(CONFIRM_TIMEOUT).await.map_err(|e| {
            ApiError::unavailable(format!(
                "replica {} cannot confirm its leadership for a backup: {e}",
                node.id()
            ))
        })?;
    }
    let store = node.store().clone();
    let view = tokio::task::spawn_blocking(move || store.view())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(format!("reading the state machine: {e}")))?;
    let Some(view) = view else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("replica {} has applied nothing yet", node.id()),
        ));
    };
    let data = *view.snapshot;
    let header = BackupHeader {
        kind: E::KIND.to_string(),
        replica: node.id(),
        leader,
        meta: view.meta,
        last_seq: data.last_seq(),
    };
    tracing::info!(snapshot = %header.meta, last_seq = %header.last_seq, leader, "backup requested; streaming");
    let value = header
        .encode()
        .map_err(|e| ApiError::internal(format!("encoding the backup header: {e}")))?;
    let value = HeaderValue::from_str(&value).map_err(|e| ApiError::internal(e.to_string()))?;
    let id = node.id();
    let frames = crate::transfer::frames(data, Seq::ZERO, || {})
        .take_while(move |chunk| {
            if let Err(e) = chunk {
                tracing::error!(replica = id, error = %e, "a backup's events could not be read; its body ends early");
            }
            std::future::ready(chunk.is_ok())
        })
        .filter_map(|chunk| std::future::ready(chunk.ok()));
    let mut resp = toystore_http::stream::reply(frames, EVENT_STREAM_TYPE);
    resp.headers_mut().insert(BACKUP_HEADER, value);
    Ok(resp)
}
