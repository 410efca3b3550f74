//! [`Replica`]: one order replica's rules on top of its Raft node.
//!
//! - **Place** (leader only): a request id the state machine already holds is answered at
//!   once, after `ensure_linearizable` (so a deposed leader never answers); otherwise the
//!   purchase is bought through the catalog (idempotent by request id), proposed through the
//!   [`Proposer`] (which batches concurrent purchases into one `client_write`), and answered with the number the state machine assigned once the entry
//!   is committed on a majority and applied ([`crate::apply`]). A write not committed within
//!   the write timeout is [`PlaceError::Unavailable`]: nothing is acknowledged, and a retry
//!   with the same request id yields the same order.
//! - **Read** (leader only): after `ensure_linearizable`, from the local projection.
//! - **Status**: role, term, leader, log and apply positions from `raft.metrics()`.
//! - **Campaign**: `raft.trigger().elect()` (ignored by a leader), for the `frontend` policy.

use crate::api::{OrderPlacedReply, OrderRecord, PlaceOrder, ReplicaStatus, Role};
use crate::error::{PlaceError, ReadError};
use crate::projection::{OrderProjection, ORDERS, REQUESTS};
use crate::proposer::{ProposeError, Proposer};
use crate::types::{OrderNode, OrderRaft, Outcome, Purchase};
use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::ServerState;
use std::time::Duration;
use toystore_catalog::api::BuyRequest;
use toystore_catalog::CatalogClient;
use toystore_events::OrderEvent;
use toystore_store::raft::RaftStore;
use toystore_store::StoreError;

/// The replica's storage.
pub type OrderStore = RaftStore<OrderRaft, OrderEvent>;

/// One order replica.
pub struct Replica {
    id: u64,
    raft: OrderNode,
    store: OrderStore,
    catalog: CatalogClient,
    proposer: Proposer,
    write_timeout: Duration,
}

fn short(id: u64) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

impl Replica {
    /// A replica of Raft node `raft` on `store` (starts its [`Proposer`]: call within a
    /// Tokio runtime).
    pub fn new(
        id: u64,
        raft: OrderNode,
        store: OrderStore,
        catalog: CatalogClient,
        write_timeout: Duration,
    ) -> Self {
        Self {
            id,
            proposer: Proposer::start(raft.clone(), write_timeout),
            raft,
            store,
            catalog,
            write_timeout,
        }
    }

    /// The Raft node.
    pub fn raft(&self) -> &OrderNode {
        &self.raft
    }

    /// The storage (reads).
    pub fn store(&self) -> &OrderStore {
        &self.store
    }

    /// The proposer's measurements.
    pub fn proposal_metrics(&self) -> &crate::proposer::ProposalMetrics {
        self.proposer.metrics()
    }

    /// What the replica says about itself.
    pub fn status(&self) -> ReplicaStatus {
        let m = self.raft.metrics().borrow().clone();
        let role = match m.state {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        };
        let voters: Vec<u32> = m
            .membership_config
            .membership()
            .voter_ids()
            .map(short)
            .collect();
        let voter = voters.contains(&short(self.id));
        let lease = self.raft.config().election_timeout_max.saturating_mul(2);
        let isolated =
            role == Role::Leader && m.millis_since_quorum_ack.is_some_and(|ms| ms > lease);
        ReplicaStatus {
            id: short(self.id),
            role,
            ready: m.running_state.is_ok() && voter,
            term: m.current_term,
            leader: m.current_leader.map(short),
            last_log_index: m.last_log_index,
            applied: m.last_applied.map(|l| l.index),
            snapshot: m.snapshot.map(|l| l.index),
            last_seq: self.store.event_log().last_seq(),
            voters,
            quorum_ack_ms: m.millis_since_quorum_ack,
            isolated,
        }
    }

    /// Starts an election unless this replica leads (the `frontend` policy's campaign).
    pub async fn campaign(&self) -> Result<ReplicaStatus, PlaceError> {
        tracing::info!(replica = self.id, "asked to campaign");
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| PlaceError::Unavailable(e.to_string()))?;
        Ok(self.status())
    }

    fn leader_known(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    /// Confirms leadership with a quorum and waits until everything committed is applied.
    async fn linearize(&self) -> Result<(), ReadError> {
        match tokio::time::timeout(self.write_timeout, self.raft.ensure_linearizable()).await {
            Err(_) => Err(ReadError::Unavailable(
                "leadership not confirmed in time".into(),
            )),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                Err(ReadError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Err(ReadError::Unavailable(e.to_string()))
            }
            Ok(Err(e)) => Err(ReadError::Unavailable(e.to_string())),
        }
    }

    /// Places an order (leader only).
    pub async fn place(&self, order: PlaceOrder) -> Result<OrderPlacedReply, PlaceError> {
        if !self.is_leader() {
            return Err(PlaceError::NotLeader {
                leader: self.leader_known(),
            });
        }
        if let Some(number) = self.recorded(&order.request_id).map_err(storage)? {
            self.linearize().await.map_err(|e| match e {
                ReadError::NotLeader { leader } => PlaceError::NotLeader { leader },
                other => PlaceError::Unavailable(other.to_string()),
            })?;
            let same = self
                .record(number)
                .map_err(storage)?
                .is_some_and(|r| r.name == order.name && r.quantity == order.quantity);
            return if same {
                Ok(OrderPlacedReply {
                    order_number: number,
                    replayed: true,
                })
            } else {
                Err(PlaceError::KeyReused)
            };
        }
        let buy = BuyRequest {
            request_id: order.request_id.clone(),
            name: order.name.clone(),
            quantity: order.quantity,
        };
        if let Err(e) = self.catalog.buy(&buy).await {
            return Err(match e.status() {
                Some(404) => PlaceError::ProductNotFound,
                Some(409) => PlaceError::InsufficientStock,
                Some(400 | 422) => PlaceError::Invalid(e.to_string()),
                _ => {
                    tracing::warn!(error = %e, "catalog buy failed");
                    PlaceError::CatalogUnavailable
                }
            });
        }
        crate::failpoint::hit("after-buy");
        let purchase = Purchase {
            request_id: order.request_id,
            product: order.name,
            quantity: order.quantity,
        };
        let outcome = self.proposer.propose(purchase).await.map_err(|e| match e {
            ProposeError::NotLeader { leader } => PlaceError::NotLeader { leader },
            ProposeError::Unavailable(m) => PlaceError::Unavailable(m),
        })?;
        crate::failpoint::hit("after-commit");
        match outcome {
            Outcome::Placed { number, new } => Ok(OrderPlacedReply {
                order_number: number,
                replayed: !new,
            }),
            Outcome::KeyReused { .. } => Err(PlaceError::KeyReused),
        }
    }

    /// Proposes a purchase the catalog has already sold (the completion of a half-done
    /// purchase, [`crate::complete`]).
    pub(crate) async fn propose(&self, purchase: Purchase) -> Result<Outcome, ProposeError> {
        self.proposer.propose(purchase).await
    }

    /// Reads an order (leader only, after confirming leadership).
    pub async fn order(&self, number: u64) -> Result<OrderRecord, ReadError> {
        if !self.is_leader() {
            return Err(ReadError::NotLeader {
                leader: self.leader_known(),
            });
        }
        self.linearize().await?;
        self.record(number)?.ok_or(ReadError::NotFound)
    }

    /// Which of `request_ids` the state machine has recorded (one read transaction).
    pub(crate) fn recorded_among<'a>(
        &self,
        request_ids: impl Iterator<Item = &'a String>,
    ) -> Result<std::collections::BTreeSet<String>, StoreError> {
        let tables = self.store.event_log().read()?;
        let table = tables.open(REQUESTS)?;
        let mut recorded = std::collections::BTreeSet::new();
        for id in request_ids {
            if table.get(id.as_str())?.is_some() {
                recorded.insert(id.clone());
            }
        }
        Ok(recorded)
    }

    /// The order number recorded for a request id, if any.
    fn recorded(&self, request_id: &str) -> Result<Option<u64>, StoreError> {
        let tables = self.store.event_log().read()?;
        let table = tables.open(REQUESTS)?;
        let number = table.get(request_id)?;
        Ok(number)
    }

    /// The order with this number in the projection, if any.
    fn record(&self, number: u64) -> Result<Option<OrderRecord>, StoreError> {
        let tables = self.store.event_log().read()?;
        let table = tables.open(ORDERS)?;
        let row = table.get(number)?.map(|v| {
            let (name, quantity) = v;
            OrderRecord {
                number,
                name,
                quantity,
            }
        });
        Ok(row)
    }
}

fn storage(e: StoreError) -> PlaceError {
    tracing::error!(error = %e, "order storage error");
    PlaceError::Unavailable(format!("storage error: {e}"))
}

/// Opens the replica's storage (blocking: call from a blocking task).
pub fn open_store(path: &std::path::Path) -> Result<OrderStore, StoreError> {
    RaftStore::open(path, OrderProjection)
}
