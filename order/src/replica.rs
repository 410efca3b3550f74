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
//!
//! The decisions inside these (who may go on and which leader hint a non-leader gives,
//! `must_lead`; how a confirmation, a catalog buy, a proposal and its outcome become the
//! answer; the role and `isolated` a replica reports) are small pure functions below the
//! [`Replica`], unit-tested here; the methods only gather their inputs.

use crate::apply::replayed;
use crate::error::{PlaceError, ReadError};
use crate::projection::{
    candidates_range, find, find_in, order_at, OrderProjection, REQUEST_INDEX,
};
use crate::proposer::{ProposeError, Proposer};
use crate::types::{OrderNode, OrderRaft, Outcome};
use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::{BasicNode, ServerState};
use std::time::Duration;
use toystore_catalog_api::{BuyRefusal, CatalogClient};
use toystore_config::ReplicaId;
use toystore_events::OrderEvent;
use toystore_events::Purchase;
use toystore_events::{OrderNumber, RequestId, Seq};
use toystore_http::client::ClientError;
use toystore_order_api::{OrderPlacedReply, OrderRecord, ReplicaStatus, Role};
use toystore_store::raft::RaftStore;
use toystore_store::StoreError;

/// openraft's refusal of `ensure_linearizable`.
type CheckError = RaftError<ReplicaId, CheckIsLeaderError<ReplicaId, BasicNode>>;

/// The replica's storage.
pub type OrderStore = RaftStore<OrderRaft, OrderEvent>;

/// One order replica.
pub struct Replica {
    id: ReplicaId,
    raft: OrderNode,
    store: OrderStore,
    catalog: CatalogClient,
    proposer: Proposer,
    write_timeout: Duration,
    transfers: std::sync::Arc<crate::transfer_counts::Counts>,
    /// The completer's stored checkpoint ([`crate::checkpoint`]), for metrics.
    completer_checkpoint: std::sync::atomic::AtomicU64,
}

impl Replica {
    /// A replica of Raft node `raft` on `store` (starts its [`Proposer`]: call within a
    /// Tokio runtime).
    pub fn new(
        id: ReplicaId,
        raft: OrderNode,
        store: OrderStore,
        catalog: CatalogClient,
        write_timeout: Duration,
        transfers: std::sync::Arc<crate::transfer_counts::Counts>,
    ) -> Self {
        Self {
            id,
            proposer: Proposer::start(raft.clone(), write_timeout),
            raft,
            store,
            catalog,
            write_timeout,
            transfers,
            completer_checkpoint: std::sync::atomic::AtomicU64::new(0),
        }
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

    /// What this replica's snapshot transfers moved (shared with its Raft network).
    pub fn transfers(&self) -> &std::sync::Arc<crate::transfer_counts::Counts> {
        &self.transfers
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
        let role = role(m.state);
        let voters: Vec<ReplicaId> = m.membership_config.membership().voter_ids().collect();
        let voter = voters.contains(&self.id);
        let lease = self.raft.config().election_timeout_max.saturating_mul(2);
        let isolated = isolated(role, m.millis_since_quorum_ack, lease);
        ReplicaStatus {
            id: self.id,
            role,
            ready: m.running_state.is_ok() && voter,
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            applied: m.last_applied.map(|l| l.index),
            snapshot: m.snapshot.map(|l| l.index),
            last_seq: self.store.event_log().last_seq(),
            voters,
            quorum_ack_ms: m.millis_since_quorum_ack,
            isolated,
        }
    }

    /// Whether this replica starts elections on its own (the `raft` policy).
    pub fn elects(&self) -> bool {
        self.raft.config().enable_elect
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

    /// `Err(leader hint)` unless this replica leads ([`must_lead`] on one metrics snapshot).
    fn leadership(&self) -> Result<(), Option<ReplicaId>> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        must_lead(m.state, m.current_leader)
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.leadership().is_ok()
    }

    /// Confirms leadership with a quorum and waits until everything committed is applied.
    async fn linearize(&self) -> Result<(), ReadError> {
        linearizable_read(
            tokio::time::timeout(self.write_timeout, self.raft.ensure_linearizable())
                .await
                .ok(),
        )
    }

    /// Places an order (leader only).
    pub async fn place(&self, order: Purchase) -> Result<OrderPlacedReply, PlaceError> {
        self.leadership()
            .map_err(|leader| PlaceError::NotLeader { leader })?;
        if let Some(known) = self.recorded(&order.request_id).map_err(storage)? {
            self.linearize().await?;
            let placed = Some((known.name.as_str(), known.quantity.get()));
            return placed_reply(replayed(known.number, placed, &order.name, order.quantity));
        }
        if let Err(e) = self.catalog.buy(&order).await {
            let refusal = catalog_refusal(&e);
            if matches!(refusal, PlaceError::CatalogUnavailable) {
                tracing::warn!(error = %e, "catalog buy failed");
            }
            return Err(refusal);
        }
        crate::failpoint::hit("after-buy");
        let outcome = self.proposer.propose(order).await?;
        crate::failpoint::hit("after-commit");
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
        let tables = self.store.event_log().read()?;
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
        let tables = self.store.event_log().read()?;
        Ok(find_in(&tables, request_id.as_str())?.map(|(number, event)| record(number, event)))
    }

    /// The order with this number (its event), if any.
    fn record(&self, number: OrderNumber) -> Result<Option<OrderRecord>, StoreError> {
        let tables = self.store.event_log().read()?;
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

/// The role a replica reports for openraft's server state.
fn role(state: ServerState) -> Role {
    match state {
        ServerState::Leader => Role::Leader,
        ServerState::Follower => Role::Follower,
        ServerState::Candidate => Role::Candidate,
        ServerState::Learner => Role::Learner,
        ServerState::Shutdown => Role::Shutdown,
    }
}

/// Whether a replica in `role` is a leader cut off from its quorum: it leads, and no
/// majority has acknowledged it for more than `lease_ms` (`millis_since_quorum_ack`, `None`
/// before any acknowledgement, is openraft's).
fn isolated(role: Role, millis_since_quorum_ack: Option<u64>, lease_ms: u64) -> bool {
    role == Role::Leader && millis_since_quorum_ack.is_some_and(|ms| ms > lease_ms)
}

/// The leader rule of writes and reads: a replica in `state` goes on only if it leads;
/// otherwise it answers with `Err(the leader it knows of)` (openraft's `current_leader`,
/// passed on as is, `None` when it knows none).
fn must_lead(
    state: ServerState,
    current_leader: Option<ReplicaId>,
) -> Result<(), Option<ReplicaId>> {
    if state == ServerState::Leader {
        Ok(())
    } else {
        Err(current_leader)
    }
}

/// `ensure_linearizable` given the write timeout (`None`: no answer in time) as a read's
/// outcome: confirmed, not the leader (with openraft's hint), or unavailable.
fn linearizable_read<T>(answer: Option<Result<T, CheckError>>) -> Result<(), ReadError> {
    match answer {
        None => Err(ReadError::Unavailable(
            "leadership not confirmed in time".into(),
        )),
        Some(Ok(_)) => Ok(()),
        Some(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
            Err(ReadError::NotLeader {
                leader: f.leader_id,
            })
        }
        Some(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
            Err(ReadError::Unavailable(e.to_string()))
        }
        Some(Err(e)) => Err(ReadError::Unavailable(e.to_string())),
    }
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
    use openraft::error::{Fatal, ForwardToLeader, QuorumNotEnough};

    fn forward(leader: Option<ReplicaId>) -> CheckError {
        RaftError::APIError(CheckIsLeaderError::ForwardToLeader(match leader {
            Some(id) => ForwardToLeader::new(id, BasicNode::new("127.0.0.1:9003")),
            None => ForwardToLeader::empty(),
        }))
    }

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
    fn each_server_state_has_its_role() {
        assert_eq!(role(ServerState::Leader), Role::Leader);
        assert_eq!(role(ServerState::Follower), Role::Follower);
        assert_eq!(role(ServerState::Candidate), Role::Candidate);
        assert_eq!(role(ServerState::Learner), Role::Learner);
        assert_eq!(role(ServerState::Shutdown), Role::Shutdown);
    }

    #[test]
    fn a_leader_is_isolated_only_after_its_lease_without_a_quorum_ack() {
        assert!(isolated(Role::Leader, Some(601), 600));
        assert!(!isolated(Role::Leader, Some(600), 600), "the lease itself");
        assert!(!isolated(Role::Leader, Some(0), 600));
        assert!(!isolated(Role::Leader, None, 600), "no ack measured yet");
        for other in [
            Role::Follower,
            Role::Candidate,
            Role::Learner,
            Role::Shutdown,
        ] {
            assert!(!isolated(other, Some(10_000), 600), "{other:?}");
        }
    }

    #[test]
    fn only_a_leader_goes_on() {
        assert_eq!(must_lead(ServerState::Leader, Some(3)), Ok(()));
        assert_eq!(must_lead(ServerState::Leader, None), Ok(()));
    }

    #[test]
    fn a_non_leader_answers_with_the_leader_it_knows() {
        assert_eq!(must_lead(ServerState::Follower, Some(3)), Err(Some(3)));
        assert_eq!(must_lead(ServerState::Learner, Some(1)), Err(Some(1)));
        assert_eq!(must_lead(ServerState::Candidate, None), Err(None));
        assert_eq!(must_lead(ServerState::Follower, None), Err(None));
        assert_eq!(must_lead(ServerState::Shutdown, Some(2)), Err(Some(2)));
    }

    #[test]
    fn a_confirmed_leadership_goes_on() {
        assert!(linearizable_read::<()>(Some(Ok(()))).is_ok());
    }

    #[test]
    fn no_confirmation_in_time_is_unavailable() {
        let e = linearizable_read::<()>(None);
        assert!(
            matches!(&e, Err(ReadError::Unavailable(m)) if m == "leadership not confirmed in time"),
            "{e:?}"
        );
    }

    #[test]
    fn a_refused_confirmation_names_the_leader() {
        let e = linearizable_read::<()>(Some(Err(forward(Some(2)))));
        assert!(
            matches!(e, Err(ReadError::NotLeader { leader: Some(2) })),
            "{e:?}"
        );
        let e = linearizable_read::<()>(Some(Err(forward(None))));
        assert!(
            matches!(e, Err(ReadError::NotLeader { leader: None })),
            "{e:?}"
        );
    }

    #[test]
    fn no_quorum_or_a_stopped_raft_is_unavailable_with_openraft_s_text() {
        let quorum = QuorumNotEnough {
            cluster: "{1,2,3}".into(),
            got: [3].into_iter().collect(),
        };
        let e = linearizable_read::<()>(Some(Err(RaftError::APIError(
            CheckIsLeaderError::QuorumNotEnough(quorum),
        ))));
        assert!(
            matches!(&e, Err(ReadError::Unavailable(m))
                if m == "not enough for a quorum, cluster: {1,2,3}, got: {3}"),
            "{e:?}"
        );
        let e = linearizable_read::<()>(Some(Err(RaftError::Fatal(Fatal::Stopped))));
        assert!(
            matches!(&e, Err(ReadError::Unavailable(m)) if m == "raft stopped"),
            "{e:?}"
        );
    }

    #[test]
    fn an_unconfirmed_replay_keeps_the_hint_or_is_unavailable() {
        let e = PlaceError::from(ReadError::NotLeader { leader: Some(1) });
        assert!(
            matches!(e, PlaceError::NotLeader { leader: Some(1) }),
            "{e:?}"
        );
        let e = PlaceError::from(ReadError::NotLeader { leader: None });
        assert!(matches!(e, PlaceError::NotLeader { leader: None }), "{e:?}");
        let e = PlaceError::from(ReadError::Unavailable(
            "leadership not confirmed in time".into(),
        ));
        assert!(
            matches!(&e, PlaceError::Unavailable(m) if m == "leadership not confirmed in time"),
            "{e:?}"
        );
        let e = PlaceError::from(ReadError::NotFound);
        assert!(
            matches!(&e, PlaceError::Unavailable(m) if m == "order not found"),
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
