//! [`Network`]: openraft's `RaftNetwork` over HTTP between replicas.
//!
//! Each call is a `POST /internal/raft/{append,vote,position,pristine,rejoin}` with the cluster token and a
//! postcard body (a snapshot goes by [`crate::transfer`]: `position`, then a stream to
//! `/internal/raft/snapshot`; `pristine` and `rejoin` are [`crate::founding`]'s questions), on one pooled keep-alive client (`toystore_http::client::http_client`)
//! shared by every peer link, with openraft's per-call deadline (`RPCOption::hard_ttl`) as
//! the request timeout. A peer's address comes from the cluster file's replica list (the
//! [`AddressBook`], replaced when the file changes, looked up on every call), else from its
//! `BasicNode` in the membership.
//!
//! Replies: 200 with a postcard body is the response; 503 with [`RAFT_ERROR_HEADER`] is the
//! peer's Raft refusing (`RPCError::RemoteError`); a connection failure, or a 503 of a peer
//! not admitted yet ([`NOT_ADMITTED_HEADER`]), is `Unreachable` (openraft backs off); anything else (timeout, another status, an undecodable body) is a
//! `NetworkError`. Nothing here panics on what a peer sends.

use crate::counts::Counts;
use crate::wire::{SnapshotHeader, NOT_ADMITTED_HEADER, RAFT_ERROR_HEADER, SNAPSHOT_HEADER};
use crate::Types;
use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, OptionalSend, Snapshot, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::{Arc, PoisonError, RwLock};
use toystore_config::{ClusterToken, ReplicaId};
use toystore_events::Seq;

/// Replica id → base URL (`http://host:port`), from the cluster file. Cheap to clone (a
/// handle); [`AddressBook::replace`] is seen by every peer link at its next call.
#[derive(Clone, Default)]
pub struct AddressBook(Arc<RwLock<Arc<BTreeMap<ReplicaId, String>>>>);

impl AddressBook {
    /// A book with these addresses.
    pub fn new(book: BTreeMap<ReplicaId, String>) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(book))))
    }

    /// The base URL of replica `id`, if the book has it.
    pub fn get(&self, id: ReplicaId) -> Option<String> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    /// Replaces every address.
    pub fn replace(&self, book: BTreeMap<ReplicaId, String>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(book);
    }
}

/// Why one HTTP call to a peer failed, before it becomes an openraft error.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("network: {0}")]
    Network(String),
    #[error("remote raft error ({} bytes)", .0.len())]
    Remote(Vec<u8>),
}

impl CallError {
    /// A request that could not be sent: unreachable if the connection failed (openraft
    /// backs off), a network error otherwise.
    fn sending(e: &reqwest::Error) -> Self {
        if e.is_connect() {
            CallError::Unreachable(e.to_string())
        } else {
            CallError::Network(e.to_string())
        }
    }
}

/// Builds one [`Peer`] per target (openraft's network factory).
pub struct Network<C> {
    http: reqwest::Client,
    token: ClusterToken,
    book: AddressBook,
    transfers: Arc<Counts>,
    _types: PhantomData<fn() -> C>,
}

impl<C> Clone for Network<C> {
    fn clone(&self) -> Self {
        Self {
            http: self.http.clone(),
            token: self.token.clone(),
            book: self.book.clone(),
            transfers: self.transfers.clone(),
            _types: PhantomData,
        }
    }
}

impl<C: Types> Network<C> {
    /// A network using `http` (pooled keep-alive), the cluster token and the address book.
    pub fn new(http: reqwest::Client, token: ClusterToken, book: AddressBook) -> Self {
        Self {
            http,
            token,
            book,
            transfers: Arc::default(),
            _types: PhantomData,
        }
    }

    /// What this node's snapshot transfers moved (shared with every peer link).
    pub fn transfer_counts(&self) -> Arc<Counts> {
        self.transfers.clone()
    }

    fn peer(&self, target: ReplicaId, fallback: String) -> Peer<C> {
        Peer {
            http: self.http.clone(),
            token: self.token.clone(),
            book: self.book.clone(),
            fallback,
            target,
            transfers: self.transfers.clone(),
            _types: PhantomData,
        }
    }

    /// A link to replica `target` if the book lists it (only those are asked
    /// [`crate::founding`]'s questions).
    fn listed(&self, target: ReplicaId) -> Option<Peer<C>> {
        self.book
            .get(target)
            .map(|_| self.peer(target, String::new()))
    }

    /// Where replica `target` stands ([`crate::founding::Standing`]); `None` when it is not
    /// in the book or did not answer within `timeout`.
    pub async fn standing(
        &self,
        target: ReplicaId,
        timeout: std::time::Duration,
    ) -> Option<crate::founding::Standing> {
        let peer = self.listed(target)?;
        peer.call("pristine", &(), &RPCOption::new(timeout))
            .await
            .ok()
    }

    /// Asks replica `target` to hold replica `own` as no member ([`crate::rejoin`]): the
    /// index of its committed membership entry once `target` leads and that membership
    /// does not hold `own` (the voter floor); its refusal (or why it did not answer within
    /// `timeout`) otherwise.
    pub async fn rejoin(
        &self,
        target: ReplicaId,
        own: ReplicaId,
        timeout: std::time::Duration,
    ) -> Result<u64, String> {
        let peer = self
            .listed(target)
            .ok_or_else(|| format!("replica {target} is not in the cluster file"))?;
        peer.call::<_, u64>("rejoin", &own, &RPCOption::new(timeout))
            .await
            .map_err(|e| match e {
                CallError::Remote(body) => String::from_utf8_lossy(&body).into_owned(),
                e => e.to_string(),
            })
    }
}

impl<C: Types> RaftNetworkFactory<C> for Network<C> {
    type Network = Peer<C>;

    async fn new_client(&mut self, target: ReplicaId, node: &BasicNode) -> Peer<C> {
        let url = match node.addr.parse::<toystore_config::ServiceAddr>() {
            Ok(addr) => toystore_http::tls::base_url(&addr),
            // Raft's membership holds the addresses of cluster files, which were checked;
            // one that is not `host:port` is dialled as it is, and fails to connect.
            Err(e) => {
                tracing::warn!(target, error = %e, "a member's address is not host:port");
                format!("http://{}", node.addr)
            }
        };
        self.peer(target, url)
    }
}

/// A link to one peer.
pub struct Peer<C> {
    http: reqwest::Client,
    token: ClusterToken,
    book: AddressBook,
    /// The address in the membership, for a peer the book does not list.
    fallback: String,
    target: ReplicaId,
    transfers: Arc<Counts>,
    _types: PhantomData<fn() -> C>,
}

type RpcError<E = openraft::error::Infallible> =
    RPCError<ReplicaId, BasicNode, RaftError<ReplicaId, E>>;

impl<C: Types> Peer<C> {
    fn base(&self) -> String {
        self.book
            .get(self.target)
            .unwrap_or_else(|| self.fallback.clone())
    }

    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        route: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, CallError> {
        let body = postcard::to_allocvec(req).map_err(|e| CallError::Network(e.to_string()))?;
        let resp = self
            .http
            .post(format!("{}/internal/raft/{route}", self.base()))
            .header("authorization", self.token.bearer())
            .header("content-type", "application/octet-stream")
            .timeout(option.hard_ttl())
            .body(body)
            .send()
            .await
            .map_err(|e| CallError::sending(&e))?;
        self.read_reply(resp).await
    }

    /// A peer's reply: 200 with a postcard body, or a Raft refusal, or a network failure.
    async fn read_reply<Resp: DeserializeOwned>(
        &self,
        resp: reqwest::Response,
    ) -> Result<Resp, CallError> {
        let status = resp.status();
        let remote = resp.headers().contains_key(RAFT_ERROR_HEADER);
        let not_admitted = resp.headers().contains_key(NOT_ADMITTED_HEADER);
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CallError::Network(e.to_string()))?;
        if status.is_success() {
            return postcard::from_bytes(&bytes)
                .map_err(|e| CallError::Network(format!("undecodable reply: {e}")));
        }
        if remote {
            return Err(CallError::Remote(bytes.to_vec()));
        }
        if not_admitted {
            return Err(CallError::Unreachable(
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
        Err(CallError::Network(format!(
            "{status}: {}",
            String::from_utf8_lossy(&bytes)
                .chars()
                .take(200)
                .collect::<String>()
        )))
    }

    /// Sends `snapshot` by [`crate::transfer`]: asks how far the peer's log goes, then
    /// streams the events it lacks.
    async fn send_snapshot(
        &self,
        vote: Vote<ReplicaId>,
        snapshot: Snapshot<C>,
        option: &RPCOption,
    ) -> Result<SnapshotResponse<ReplicaId>, StreamingError<C, Fatal<ReplicaId>>> {
        let streaming = |e: CallError| -> StreamingError<C, Fatal<ReplicaId>> {
            match e {
                CallError::Unreachable(m) => Unreachable::new(&std::io::Error::other(m)).into(),
                CallError::Network(m) => NetworkError::new(&std::io::Error::other(m)).into(),
                CallError::Remote(body) => {
                    match serde_json::from_slice::<Fatal<ReplicaId>>(&body) {
                        Ok(fatal) => RemoteError::new(self.target, fatal).into(),
                        Err(e) => NetworkError::new(&e).into(),
                    }
                }
            }
        };
        let network = |e: &dyn std::fmt::Display| -> StreamingError<C, Fatal<ReplicaId>> {
            NetworkError::new(&std::io::Error::other(e.to_string())).into()
        };
        let (theirs, their_last): (Seq, Option<Vec<u8>>) = self
            .call("position", &(), option)
            .await
            .map_err(streaming)?;
        let data = *snapshot.snapshot;
        let after = crate::transfer::start_after(&data, theirs, their_last.as_deref())
            .map_err(|e| network(&e))?;
        let header = SnapshotHeader {
            vote,
            meta: snapshot.meta.clone(),
            after,
            last_seq: data.last_seq(),
        };
        tracing::info!(target_replica = self.target, snapshot = %snapshot.meta, %after, last_seq = %header.last_seq, "sending a snapshot");
        let header = header.encode().map_err(|e| network(&e))?;
        let resp = self
            .http
            .post(format!("{}/internal/raft/snapshot", self.base()))
            .header("authorization", self.token.bearer())
            .header("content-type", "application/octet-stream")
            .header(SNAPSHOT_HEADER, header)
            // Not the RPC deadline: a large snapshot takes as long as it takes to stream and
            // install; openraft cancels it if the replication stops.
            .timeout(crate::transfer::LONGEST)
            .body(crate::transfer::body(data, after, self.transfers.clone()))
            .send()
            .await
            .map_err(|e| streaming(CallError::sending(&e)))?;
        self.read_reply(resp).await.map_err(streaming)
    }

    fn to_rpc<E>(&self, e: CallError) -> RpcError<E>
    where
        E: std::error::Error + DeserializeOwned,
    {
        match e {
            CallError::Unreachable(m) => {
                RPCError::Unreachable(Unreachable::new(&std::io::Error::other(m)))
            }
            CallError::Network(m) => {
                RPCError::Network(NetworkError::new(&std::io::Error::other(m)))
            }
            CallError::Remote(body) => {
                match serde_json::from_slice::<RaftError<ReplicaId, E>>(&body) {
                    Ok(err) => RPCError::RemoteError(RemoteError::new(self.target, err)),
                    Err(e) => RPCError::Network(NetworkError::new(&e)),
                }
            }
        }
    }
}

impl<C: Types> RaftNetwork<C> for Peer<C> {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<C>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<ReplicaId>, RpcError> {
        self.call("append", &rpc, &option)
            .await
            .map_err(|e| self.to_rpc(e))
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote<ReplicaId>,
        snapshot: Snapshot<C>,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<ReplicaId>, StreamingError<C, Fatal<ReplicaId>>> {
        tokio::select! {
            sent = self.send_snapshot(vote, snapshot, &option) => sent,
            closed = cancel => Err(StreamingError::Closed(closed)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<ReplicaId>,
        option: RPCOption,
    ) -> Result<VoteResponse<ReplicaId>, RpcError> {
        self.call("vote", &rpc, &option)
            .await
            .map_err(|e| self.to_rpc(e))
    }
}
