//! [`CatalogClient`]: how other services call the catalog's replicas.
//!
//! Leader-only calls (products, buys, restocks) go through a [`Group`], which follows the
//! catalog leader's hints and fails over between replicas; health and the event stream go
//! to one replica. One pooled keep-alive connection set per replica; every call carries
//! the cluster token. A product name goes as a form-encoded query parameter
//! (`/internal/products?name=`), so any name, even `.`, `..` or one holding control
//! characters, reaches the catalog exactly.

use crate::wire::{BuyReply, ByName, Health, ProductList, ProductReply, RestockReply};
use futures_util::Stream;
use std::sync::Arc;
use toystore_config::Timeouts;
use toystore_config::{ClusterToken, ReplicaId};
use toystore_events::Purchase;
use toystore_events::{CatalogEvent, FrameError, Seq, StreamItem};
use toystore_http::client::{ClientError, ServiceClient};
use toystore_raft_api::failover::Patience;
use toystore_raft_api::Group;

/// A typed client of the catalog's replicas.
#[derive(Clone, Debug)]
pub struct CatalogClient {
    group: Arc<Group>,
    health_timeout: std::time::Duration,
}

impl CatalogClient {
    /// A client of a one-replica catalog at `base` (e.g. `http://127.0.0.1:8090`), with
    /// the default [`Timeouts`].
    pub fn new(base: &str, token: ClusterToken) -> Result<Self, ClientError> {
        Self::with_timeouts(base, token, &Timeouts::default())
    }

    /// A client of a one-replica catalog whose requests may take `timeouts.request`, and
    /// its health checks `timeouts.health` (the cluster file's).
    pub fn with_timeouts(
        base: &str,
        token: ClusterToken,
        timeouts: &Timeouts,
    ) -> Result<Self, ClientError> {
        Self::of_replicas(&[(1, base.to_string())], token, timeouts)
    }

    /// A client of the catalog replicas `replicas` (id, base URL): a leader-only call
    /// looks for the leader for up to `timeouts.request`, each attempt taking at most
    /// `timeouts.attempt` (with one replica, `timeouts.request`: there is no other to try),
    /// pausing `timeouts.leader_poll` after each round of replicas without an answer.
    pub fn of_replicas(
        replicas: &[(ReplicaId, String)],
        token: ClusterToken,
        timeouts: &Timeouts,
    ) -> Result<Self, ClientError> {
        let attempt = match replicas.len() {
            1 => timeouts.request,
            _ => timeouts.attempt.min(timeouts.request),
        };
        let members = replicas
            .iter()
            .map(|(id, base)| Ok((*id, ServiceClient::new(base, token.clone(), attempt)?)))
            .collect::<Result<Vec<_>, ClientError>>()?;
        Ok(Self {
            group: Arc::new(Group::new(
                members,
                Patience {
                    total: timeouts.request,
                    attempt,
                    pause: timeouts.leader_poll,
                },
            )?),
            health_timeout: timeouts.health,
        })
    }

    /// The replicas' ids and base URLs, in order.
    pub fn replicas(&self) -> Vec<(ReplicaId, String)> {
        self.group
            .members()
            .iter()
            .map(|(id, c)| (*id, c.base().as_str().trim_end_matches('/').to_string()))
            .collect()
    }

    /// The base URL of the replica believed to lead.
    pub fn base(&self) -> &reqwest::Url {
        self.group.believed_leader().1.base()
    }

    /// `GET /health` of the replica believed to lead, with the short health timeout.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.health_of(None).await
    }

    /// `GET /health` of the first replica that answers, starting at the one believed to
    /// lead (the failover order of [`CatalogClient::events`]).
    pub async fn any_health(&self) -> Result<Health, ClientError> {
        let mut failure = None;
        for (_, client) in self.failover_order() {
            match self.health_at(client).await {
                Ok(health) => return Ok(health),
                Err(e) => failure = Some(e),
            }
        }
        Err(failure.unwrap_or_else(|| ClientError::Unreachable("no catalog replica".into())))
    }

    /// The replicas, starting at the one believed to lead, then in order.
    fn failover_order(&self) -> impl Iterator<Item = &(ReplicaId, ServiceClient)> {
        let members = self.group.members();
        let first = members
            .iter()
            .position(|(m, _)| *m == self.group.believed_leader().0)
            .unwrap_or(0);
        members.iter().cycle().skip(first).take(members.len())
    }

    /// `GET /health` of replica `id` (`None`: the one believed to lead); an id that is not a
    /// catalog replica of this client is an error, never another replica's answer.
    pub async fn health_of(&self, id: Option<ReplicaId>) -> Result<Health, ClientError> {
        let client = match id {
            None => &self.group.believed_leader().1,
            Some(id) => match self.group.members().iter().find(|(m, _)| *m == id) {
                Some((_, client)) => client,
                None => return Err(ClientError::BadUrl(format!("no catalog replica {id}"))),
            },
        };
        self.health_at(client).await
    }

    /// `GET /health` of `client`, with the short health timeout.
    async fn health_at(&self, client: &ServiceClient) -> Result<Health, ClientError> {
        let req = client
            .request(reqwest::Method::GET, &["health"])
            .timeout(self.health_timeout);
        client.call(req).await
    }

    /// One product; a missing one is `ClientError::Status { status: 404, .. }`. The name
    /// goes as a form-encoded query parameter, so it reaches the catalog byte for byte.
    pub async fn product(&self, name: &str) -> Result<ProductReply, ClientError> {
        let query = ByName {
            name: name.to_string(),
        };
        self.group
            .call(|c| {
                c.request(reqwest::Method::GET, &["internal", "products"])
                    .query(&query)
            })
            .await
    }

    /// Every product.
    pub async fn products(&self) -> Result<ProductList, ClientError> {
        self.group
            .call(|c| c.request(reqwest::Method::GET, &["internal", "products"]))
            .await
    }

    /// Buys (idempotent by request id); a refusal reads back with [`crate::BuyRefusal::of`].
    pub async fn buy(&self, req: &Purchase) -> Result<BuyReply, ClientError> {
        self.group
            .call(|c| {
                c.request(reqwest::Method::POST, &["internal", "buy"])
                    .json(req)
            })
            .await
    }

    /// Restocks sold-out toys now.
    pub async fn restock(&self) -> Result<RestockReply, ClientError> {
        self.group
            .call(|c| {
                c.request(reqwest::Method::POST, &["internal", "restock"])
                    .json(&())
            })
            .await
    }

    /// Whether a stream's heartbeat saying the log ends at `heard` means the catalog's log
    /// was replaced, for a subscriber that has read up to `read`: it ends before, and the
    /// catalog is one replica (the log is append-only, so its end never goes back
    /// otherwise; a replica of a replicated catalog that is behind lags, and its events
    /// come as it applies them). The one rule of every subscriber of the event stream.
    pub fn log_replaced(&self, heard: Seq, read: Seq) -> bool {
        log_replaced(heard, read, self.group.members().len())
    }

    /// Subscribes to the events after `after` (every replica serves the same events) on
    /// the replica believed to lead, or if it does not answer, the next replica that does:
    /// a stream of events and heartbeats that ends (with an error, or cleanly on the
    /// replica's shutdown) when the connection does, or with [`FrameError::Silent`] once
    /// nothing has arrived for `silence` (see
    /// [`toystore_config::CatalogConfig::stream_silence`]).
    pub async fn events(
        &self,
        after: Seq,
        silence: std::time::Duration,
    ) -> Result<impl Stream<Item = Result<StreamItem<CatalogEvent>, FrameError>>, ClientError> {
        let mut failure = None;
        for (_, client) in self.failover_order() {
            match client.events(&["internal", "events"], after, silence).await {
                Ok(stream) => return Ok(stream),
                Err(e) => failure = Some(e),
            }
        }
        Err(failure.unwrap_or_else(|| ClientError::Unreachable("no catalog replica".into())))
    }
}

/// [`CatalogClient::log_replaced`] for a catalog of `replicas` replicas.
fn log_replaced(heard: Seq, read: Seq, replicas: usize) -> bool {
    heard < read && replicas == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_catalog_ending_before_what_was_read_was_replaced() {
        let catalog_replaced = |heard, read| log_replaced(heard, read, 1);
        assert!(catalog_replaced(Seq(3), Seq(10)));
        assert!(catalog_replaced(Seq(0), Seq(1)));
        assert!(!catalog_replaced(Seq(10), Seq(10)), "caught up");
        assert!(!catalog_replaced(Seq(11), Seq(10)), "more to read");
        assert!(!catalog_replaced(Seq(0), Seq(0)));
    }

    #[test]
    fn a_replica_of_a_replicated_catalog_behind_what_was_read_lags() {
        assert!(!log_replaced(Seq(3), Seq(10), 3));
        assert!(!log_replaced(Seq(0), Seq(1), 2));
    }
}
