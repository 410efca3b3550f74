//! [`ReplicaClient`]: how the front-end (and tools) call one replica, with typed outcomes
//! ([`CallError`]) instead of status numbers.

use crate::wire::{OrderPlacedReply, OrderRecord, ReplicaStatus};
use crate::Refusal;
use serde::de::DeserializeOwned;
use std::time::Duration;
use toystore_config::{ClusterToken, ReplicaId, Timeouts};
use toystore_events::Purchase;
use toystore_http::client::{read_envelope, ClientError, ServiceClient};

/// Why a call to a replica failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The replica does not lead; `leader` is the one it knows of.
    #[error("not the leader (leader hint {leader:?})")]
    NotLeader {
        /// The leader the replica named, if any.
        leader: Option<ReplicaId>,
    },
    /// The request id names a different purchase.
    #[error("idempotency key reused for a different order")]
    KeyReused,
    /// No such toy (for a purchase) or order (for a read).
    #[error("not found: {0}")]
    NotFound(String),
    /// Too few units in stock.
    #[error("insufficient stock")]
    InsufficientStock,
    /// The request was malformed.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The replica could not do it now (no majority, catalog down...): retry.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The replica did not answer.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// Any other answer.
    #[error("failed: {0}")]
    Failed(String),
}

impl CallError {
    fn from_client(e: ClientError, leader: Option<ReplicaId>) -> Self {
        match e {
            ClientError::Unreachable(m) => CallError::Unreachable(m),
            ClientError::Malformed(m) | ClientError::BadUrl(m) => CallError::Failed(m),
            ClientError::Status { status, message } => match Refusal::from_status(status) {
                Some(Refusal::NotLeader) => CallError::NotLeader { leader },
                Some(Refusal::KeyReused) => CallError::KeyReused,
                Some(Refusal::NotFound) => CallError::NotFound(message),
                Some(Refusal::InsufficientStock) => CallError::InsufficientStock,
                Some(Refusal::BadRequest) => CallError::BadRequest(message),
                Some(Refusal::Unavailable) => CallError::Unavailable(message),
                None => CallError::Failed(format!("{status}: {message}")),
            },
        }
    }
}

/// A typed client of one replica.
#[derive(Clone, Debug)]
pub struct ReplicaClient {
    id: ReplicaId,
    inner: ServiceClient,
    health_timeout: Duration,
}

impl ReplicaClient {
    /// A client of replica `id` at `base` (e.g. `http://127.0.0.1:8091`), with the default
    /// [`Timeouts`].
    pub fn new(id: ReplicaId, base: &str, token: ClusterToken) -> Result<Self, ClientError> {
        Self::with_timeouts(id, base, token, &Timeouts::default())
    }

    /// A client whose requests may take `timeouts.request`, and its health checks and
    /// campaign requests `timeouts.health` (the cluster file's).
    pub fn with_timeouts(
        id: ReplicaId,
        base: &str,
        token: ClusterToken,
        timeouts: &Timeouts,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            id,
            inner: ServiceClient::new(base, token, timeouts.request)?,
            health_timeout: timeouts.health,
        })
    }

    /// The replica's id.
    pub fn id(&self) -> ReplicaId {
        self.id
    }

    /// The replica's base URL.
    pub fn base(&self) -> &reqwest::Url {
        self.inner.base()
    }

    async fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, CallError> {
        let resp = req
            .send()
            .await
            .map_err(|e| CallError::from_client(e.into(), None))?;
        let leader = toystore_raft_api::leader_hint(resp.headers());
        read_envelope(resp)
            .await
            .map_err(|e| CallError::from_client(e, leader))
    }

    /// `GET /health`, with a short timeout.
    pub async fn health(&self) -> Result<ReplicaStatus, CallError> {
        let req = self
            .inner
            .request(reqwest::Method::GET, &["health"])
            .timeout(self.health_timeout);
        self.send(req).await
    }

    /// Places an order (leader only).
    pub async fn place_order(&self, order: &Purchase) -> Result<OrderPlacedReply, CallError> {
        let req = self
            .inner
            .request(reqwest::Method::POST, &["internal", "orders"])
            .json(order);
        self.send(req).await
    }

    /// Reads an order (leader only).
    pub async fn order(
        &self,
        number: toystore_events::OrderNumber,
    ) -> Result<OrderRecord, CallError> {
        let n = number.to_string();
        let req = self
            .inner
            .request(reqwest::Method::GET, &["internal", "orders", &n]);
        self.send(req).await
    }

    /// Asks the replica to start an election (the `frontend` policy); a leader ignores it.
    pub async fn campaign(&self) -> Result<ReplicaStatus, CallError> {
        let req = self
            .inner
            .request(reqwest::Method::POST, &["internal", "raft", "campaign"])
            .timeout(self.health_timeout);
        self.send(req).await
    }
}
