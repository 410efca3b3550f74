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
//! - **Status**: role, term, leader, log and apply positions (`toystore_raft::Node::status`).
//! - **Campaign**: `raft.trigger().elect()` (ignored by a leader), for the `frontend` policy.
//!
//! Who may go on and which leader hint a non-leader gives, and a confirmation's outcome,
//! are `toystore_raft::leadership`'s (shared with the catalog). How a catalog buy, a
//! proposal and its outcome become the answer are small pure functions below the
//! [`Replica`], unit-tested here; the methods only gather their inputs.

use crate::apply::replayed;
use crate::error::{PlaceError, ReadError};
use crate::projection::{
    candidates_range, find, find_in, order_at, OrderProjection, REQUEST_INDEX,
};
use crate::proposer::{ProposeError, Proposer};
use crate::types::{OrderNode, OrderRaft, Outcome};
use std::sync::Arc;
use std::time::Duration;
use toystore_catalog_api::{BuyRefusal, CatalogClient};
use toystore_config::ReplicaId;
use toystore_events::OrderEvent;
use toystore_events::Purchase;
use toystore_events::{OrderNumber, RequestId, Seq};
use toystore_http::client::ClientError;
use toystore_http::stages::{Stage, Stages};
use toystore_order_api::{OrderPlacedReply, OrderRecord, ReplicaStatus};
use toystore_raft::Node;
use toystore_store::raft::RaftStore;
use toystore_store::StoreError;

/// The replica's storage.
pub type OrderStore = RaftStore<OrderRaft, OrderEvent>;

/// One order replica.
pub struct Replica {
    node: Arc<Node<OrderRaft, OrderEvent>>,
    catalog: CatalogClient,
    proposer: Proposer,
    write_timeout: Duration,
    /// The completer's stored checkpoint ([`crate::checkpoint`]), for metrics.
    completer_checkpoint: std::sync::atomic::AtomicU64,
    /// The buy path's stages this replica times when it leads.
    stages: Stages,
}

impl Replica {
    /// A replica on Raft node `node` (starts its [`Proposer`]: call within a Tokio runtime),
    /// timing the stages of a purchase it places in `stages`.
    pub fn new(
        node: Arc<Node<OrderRaft, OrderEvent>>,
        catalog: CatalogClient,
        write_timeout: Duration,
        stages: Stages,
    ) -> Self {
        Self {
            proposer: crate::proposer::start(
                node.raft().clone(),
                write_timeout,
                node.disk().clone(),
            ),
            node,
            catalog,
            write_timeout,
            completer_checkpoint: std::sync::atomic::AtomicU64::new(0),
            stages,
        }
    }

    /// The buy path's stages this replica times (shared handles: register them to export).
    pub fn stages(&self) -> &Stages {
        &self.stages
    }

    /// The completer's checkpoint as last stored (or loaded at start-up): every catalog
    /// purchase up to this seq has an order here ([`crate::checkpoint`]).
    pub fn completer_checkpoint(&self) -> Seq {
        Seq(self
            .completer_checkpoint
            .load(std::sync::atomic::Ordering::Relaxed))
    }

    pub(crate) fn set_completer_checkpoint(&self, at: Seq) {
        self.completer_checkpoint
            .store(at.0, std::sync::atomic::Ordering::Relaxed);
    }

    /// The Raft node (for its routes).
    pub fn node(&self) -> &Arc<Node<OrderRaft, OrderEvent>> {
        &self.node
    }

    /// The Raft node.
    fn raft(&self) -> &OrderNode {
        self.node.raft()
    }

    /// The storage (reads).
    pub fn store(&self) -> &OrderStore {
        self.node.store()
    }

    /// The proposer's measurements.
    pub fn proposal_metrics(&self) -> &crate::proposer::ProposalMetrics {
        self.proposer.metrics()
    }

    /// What the replica says about itself.
    pub fn status(&self) -> ReplicaStatus {
        self.node.status()
    }

    /// Starts an election unless this replica leads (the `frontend` policy's campaign).
    pub async fn campaign(&self) -> Result<ReplicaStatus, PlaceError> {
        tracing::info!(replica = self.node.id(), "asked to campaign");
        if !self.node.admitted() {
            return Err(PlaceError::Unavailable(format!(
                "replica {} is not admitted to its group yet and does not campaign",
                self.node.id()
            )));
        }
        if let Err(low) = self.node.disk().check() {
            return Err(PlaceError::Unavailable(format!(
                "replica {} does not campaign: {low}",
                self.node.id()
            )));
        }
        self.raft()
            .trigger()
            .elect()
            .await
            .map_err(|e| PlaceError::Unavailable(e.to_string()))?;
        Ok(self.status())
    }

    /// `Err(leader hint)` unless this replica leads.
    fn leadership(&self) -> Result<(), Option<ReplicaId>> {
        self.node.leadership()
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.leadership().is_ok()
    }

    /// Confirms leadership with a quorum and waits until everything committed is applied.
    async fn linearize(&self) -> Result<(), ReadError> {
        Ok(self.node.linearize(self.write_timeout).await?)
    }

    /// Places an order (leader only), timed as [`Stage::Place`] on the leader.
    pub async fn place(&self, order: Purchase) -> Result<OrderPlacedReply, PlaceError> {
        self.leadership()
            .map_err(|leader| PlaceError::NotLeader { leader })?;
        self.stages.time(Stage::Place, self.place_led(order)).await
    }

    /// [`Replica::place`] once this replica found itself leading.
    async fn place_led(&self, order: Purchase) -> Result<OrderPlacedReply, PlaceError> {
        if let Some(known) = self.recorded(&order.request_id).map_err(storage)? {
            self.node.linearize(self.write_timeout).await?;
            let placed = Some((known.name.as_str(), known.quantity.get()));
            return placed_reply(replayed(known.number, placed, &order.name, order.quantity));
        }
        let bought = self
            .stages
            .time(Stage::CatalogCall, self.catalog.buy(&order))
            .await;
        if let Err(e) = bought {
            let refusal = catalog_refusal(&e);
            if matches!(refusal, PlaceError::CatalogUnavailable) {
                tracing::warn!(error = %e, "catalog buy failed");
            }
            return Err(refusal);
        }
        toystore_raft::failpoint::hit("after-buy");
        let outcome = self
            .stages
            .time(Stage::OrderWrite, self.proposer.propose(order))
            .await?;
        toystore_raft::failpoint::hit("after-commit");
        placed_reply(outcome)
    }

    /// Proposes a purchase the catalog has already sold (the completion of a half-done
    /// purchase, [`crate::complete`]).
    pub(crate) async fn propose(&self, purchase: Purchase) -> Result<Outcome, ProposeError> {
        self.proposer.propose(purchase).await
    }

    /// Reads an order (leader only, after confirming leadership).
    pub async fn order(&self, number: OrderNumber) -> Result<OrderRecord, ReadError> {
        self.leadership()
            .map_err(|leader| ReadError::NotLeader { leader })?;
        self.linearize().await?;
        self.record(number)?.ok_or(ReadError::NotFound)
    }

    /// Which of `request_ids` the state machine has recorded (one read transaction).
    pub(crate) fn recorded_among<'a>(
        &self,
        request_ids: impl Iterator<Item = &'a RequestId>,
    ) -> Result<std::collections::BTreeSet<RequestId>, StoreError> {
        let tables = self.store().event_log().read()?;
        let index = tables.open(REQUEST_INDEX)?;
        let events = tables.event_reader()?;
        let mut recorded = std::collections::BTreeSet::new();
        for id in request_ids {
            let (from, to) = candidates_range(id.as_str());
            if find(id.as_str(), index.range(from, to)?, |seq| events.event(seq))?.is_some() {
                recorded.insert(id.clone());
            }
        }
        Ok(recorded)
    }

    /// The order recorded for a request id, if any.
    fn recorded(&self, request_id: &RequestId) -> Result<Option<OrderRecord>, StoreError> {
        let tables = self.store().event_log().read()?;
        Ok(find_in(&tables, request_id.as_str())?.map(|(number, event)| record(number, event)))
    }

    /// The order with this number (its event), if any.
    fn record(&self, number: OrderNumber) -> Result<Option<OrderRecord>, StoreError> {
        let tables = self.store().event_log().read()?;
        Ok(order_at(&tables, number)?.map(|event| record(number, event)))
    }
}

/// The order an `OrderPlaced` event records.
fn record(number: OrderNumber, event: OrderEvent) -> OrderRecord {
    let OrderEvent::OrderPlaced { name, quantity, .. } = event;
    OrderRecord {
        number,
        name,
        quantity,
    }
}

fn storage(e: StoreError) -> PlaceError {
    tracing::error!(error = %e, "order storage error");
    PlaceError::Unavailable(format!("storage error: {e}"))
}

/// The catalog's refusal of a buy as a purchase's: 404 unknown toy, 409 too few units,
/// 400/422 invalid (the catalog's text), anything else (or no answer) catalog unavailable.
fn catalog_refusal(e: &ClientError) -> PlaceError {
    match BuyRefusal::of(e) {
        Some(BuyRefusal::ProductNotFound) => PlaceError::ProductNotFound,
        Some(BuyRefusal::InsufficientStock) => PlaceError::InsufficientStock,
        Some(BuyRefusal::KeyReused) => PlaceError::Invalid(e.to_string()),
        None if e.status() == Some(400) => PlaceError::Invalid(e.to_string()),
        None => PlaceError::CatalogUnavailable,
    }
}

/// The state machine's outcome of a proposed purchase as the client's answer.
fn placed_reply(outcome: Outcome) -> Result<OrderPlacedReply, PlaceError> {
    match outcome {
        Outcome::Placed { number, new } => Ok(OrderPlacedReply {
            order_number: number,
            replayed: !new,
        }),
        Outcome::KeyReused { .. } => Err(PlaceError::KeyReused),
    }
}

/// Opens the replica's storage (blocking: call from a blocking task).
pub fn open_store(path: &std::path::Path) -> Result<OrderStore, StoreError> {
    RaftStore::open(path, OrderProjection)
}

/// [`open_store`] with a page cache of `cache_bytes` (for a tool writing a whole file).
pub fn open_store_with_cache(
    path: &std::path::Path,
    cache_bytes: usize,
) -> Result<OrderStore, StoreError> {
    RaftStore::open_with_cache(path, OrderProjection, cache_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(name: &str, quantity: u32) -> Purchase {
        Purchase {
            request_id: "r1".try_into().unwrap(),
            name: name.try_into().unwrap(),
            quantity: quantity.try_into().unwrap(),
        }
    }

    fn record(number: u64, name: &str, quantity: u32) -> OrderRecord {
        OrderRecord {
            number: number.into(),
            name: name.try_into().unwrap(),
            quantity: quantity.try_into().unwrap(),
        }
    }

    fn status(status: u16, message: &str) -> ClientError {
        ClientError::Status {
            status,
            message: message.into(),
        }
    }

    #[test]
    fn an_unconfirmed_replay_keeps_the_hint_or_is_unavailable() {
        use toystore_raft::leadership::Unconfirmed;
        let e = PlaceError::from(Unconfirmed::NotLeader { leader: Some(1) });
        assert!(
            matches!(e, PlaceError::NotLeader { leader: Some(1) }),
            "{e:?}"
        );
        let e = PlaceError::from(Unconfirmed::NotLeader { leader: None });
        assert!(matches!(e, PlaceError::NotLeader { leader: None }), "{e:?}");
        let e = PlaceError::from(Unconfirmed::Unavailable(
            "leadership not confirmed in time".into(),
        ));
        assert!(
            matches!(&e, PlaceError::Unavailable(m) if m == "leadership not confirmed in time"),
            "{e:?}"
        );
    }

    /// The answer `place` gives a request id already placed as order `number`.
    fn replay(
        number: u64,
        record: Option<&OrderRecord>,
        order: &Purchase,
    ) -> Result<OrderPlacedReply, PlaceError> {
        let known = record.map(|r| (r.name.as_str(), r.quantity.get()));
        placed_reply(replayed(number.into(), known, &order.name, order.quantity))
    }

    #[test]
    fn a_known_request_id_with_the_same_purchase_replays_its_number() {
        let r = record(4, "Tux", 2);
        let reply = replay(4, Some(&r), &order("Tux", 2));
        assert_eq!(
            reply.ok(),
            Some(OrderPlacedReply {
                order_number: 4.into(),
                replayed: true
            })
        );
    }

    #[test]
    fn a_known_request_id_with_another_purchase_is_key_reused() {
        let r = record(4, "Tux", 2);
        for other in [order("Whale", 2), order("Tux", 1), order("tux", 2)] {
            let e = replay(4, Some(&r), &other);
            assert!(matches!(e, Err(PlaceError::KeyReused)), "{other:?}: {e:?}");
        }
        let e = replay(4, None, &order("Tux", 2));
        assert!(matches!(e, Err(PlaceError::KeyReused)), "{e:?}");
    }

    #[test]
    fn the_catalog_s_refusals_become_the_purchase_s() {
        let e = catalog_refusal(&status(404, "no such toy"));
        assert!(matches!(e, PlaceError::ProductNotFound), "{e:?}");
        let e = catalog_refusal(&status(409, "only 1 left"));
        assert!(matches!(e, PlaceError::InsufficientStock), "{e:?}");
        let e = catalog_refusal(&status(400, "quantity must be positive"));
        assert!(
            matches!(&e, PlaceError::Invalid(m) if m == "400: quantity must be positive"),
            "{e:?}"
        );
        let e = catalog_refusal(&status(422, "idempotency key reused for a different order"));
        assert!(
            matches!(&e, PlaceError::Invalid(m)
                if m == "422: idempotency key reused for a different order"),
            "{e:?}"
        );
    }

    #[test]
    fn any_other_catalog_failure_is_catalog_unavailable() {
        for e in [
            status(503, "busy"),
            status(500, "boom"),
            status(401, "no token"),
            ClientError::Unreachable("connection refused".into()),
            ClientError::Malformed("not JSON".into()),
        ] {
            let refusal = catalog_refusal(&e);
            assert!(
                matches!(refusal, PlaceError::CatalogUnavailable),
                "{e:?}: {refusal:?}"
            );
        }
    }

    #[test]
    fn the_proposer_s_refusals_become_the_purchase_s() {
        let e = PlaceError::from(ProposeError::NotLeader { leader: Some(2) });
        assert!(
            matches!(e, PlaceError::NotLeader { leader: Some(2) }),
            "{e:?}"
        );
        let e = PlaceError::from(ProposeError::NotLeader { leader: None });
        assert!(matches!(e, PlaceError::NotLeader { leader: None }), "{e:?}");
        let e = PlaceError::from(ProposeError::Unavailable(
            "order not committed in time".into(),
        ));
        assert!(
            matches!(&e, PlaceError::Unavailable(m) if m == "order not committed in time"),
            "{e:?}"
        );
    }

    #[test]
    fn an_outcome_becomes_the_client_s_answer() {
        assert_eq!(
            placed_reply(Outcome::Placed {
                number: 9.into(),
                new: true
            })
            .ok(),
            Some(OrderPlacedReply {
                order_number: 9.into(),
                replayed: false
            })
        );
        assert_eq!(
            placed_reply(Outcome::Placed {
                number: 9.into(),
                new: false
            })
            .ok(),
            Some(OrderPlacedReply {
                order_number: 9.into(),
                replayed: true
            })
        );
        let e = placed_reply(Outcome::KeyReused { number: 9.into() });
        assert!(matches!(e, Err(PlaceError::KeyReused)), "{e:?}");
    }
}
