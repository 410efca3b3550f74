//! [`ReplicaClient`]: how the front-end and the other replicas call one replica.

use crate::api::{
    LeaderNotice, OrderPlacedReply, OrderRecord, PlaceOrder, ReplicaStatus, ReplicateReply,
    EPOCH_HEADER, LAST_HEADER, LEADER_HEADER,
};
use bytes::Bytes;
use futures_util::Stream;
use std::time::Duration;
use toystore_events::{FrameError, OrderEvent, Seq, StreamItem};
use toystore_net::client::{ClientError, ServiceClient};
use toystore_net::ClusterToken;

/// How long a health check may take before the replica counts as down.
pub const HEALTH_TIMEOUT: Duration = Duration::from_millis(500);

/// A typed client of one replica.
#[derive(Clone, Debug)]
pub struct ReplicaClient {
    id: u32,
    inner: ServiceClient,
}

impl ReplicaClient {
    /// A client of replica `id` at `base` (e.g. `http://127.0.0.1:8091`).
    pub fn new(id: u32, base: &str, token: ClusterToken) -> Result<Self, ClientError> {
        Ok(Self {
            id,
            inner: ServiceClient::new(base, token, Duration::from_secs(5))?,
        })
    }

    /// The replica's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The replica's base URL.
    pub fn base(&self) -> &reqwest::Url {
        self.inner.base()
    }

    /// `GET /health`, with a short timeout.
    pub async fn health(&self) -> Result<ReplicaStatus, ClientError> {
        let req = self
            .inner
            .request(reqwest::Method::GET, &["health"])
            .timeout(HEALTH_TIMEOUT);
        self.inner.call(req).await
    }

    /// Places an order (leader only; 421 from a non-leader).
    pub async fn place_order(&self, order: &PlaceOrder) -> Result<OrderPlacedReply, ClientError> {
        self.inner.post(&["internal", "orders"], order).await
    }

    /// Reads an order (leader only; 421 from a non-leader).
    pub async fn order(&self, number: u64) -> Result<OrderRecord, ClientError> {
        self.inner
            .get(&["internal", "orders", &number.to_string()])
            .await
    }

    /// Announces the leader of a new epoch.
    pub async fn announce(&self, notice: LeaderNotice) -> Result<ReplicaStatus, ClientError> {
        self.inner.post(&["internal", "leader"], &notice).await
    }

    /// Pushes event frames to a follower; `leader_last` is the leader's last sequence
    /// number; `timeout` bounds the wait for the follower's durable ack.
    pub async fn replicate(
        &self,
        epoch: u64,
        leader: u32,
        leader_last: Seq,
        frames: Bytes,
        timeout: Duration,
    ) -> Result<ReplicateReply, ClientError> {
        let req = self
            .inner
            .request(reqwest::Method::POST, &["internal", "replicate"])
            .header(EPOCH_HEADER, epoch)
            .header(LEADER_HEADER, leader)
            .header(LAST_HEADER, leader_last.0)
            .header("content-type", toystore_net::stream::EVENT_STREAM_TYPE)
            .timeout(timeout)
            .body(frames);
        self.inner.call(req).await
    }

    /// Streams the replica's order log after `after`.
    pub async fn events(
        &self,
        after: Seq,
    ) -> Result<impl Stream<Item = Result<StreamItem<OrderEvent>, FrameError>>, ClientError> {
        self.inner.events(&["internal", "events"], after).await
    }
}
