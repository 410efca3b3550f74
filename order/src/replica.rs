//! [`Replica`]: one order replica's state and behaviour.
//!
//! A replica is *recovering* until it has caught up from its peers, then a *follower*, or
//! the *leader* once the front-end announces it for a new epoch. Its rules:
//!
//! - It remembers the newest epoch it has seen durably ([`crate::fence`]) and refuses
//!   announcements and replication from older epochs (fencing).
//! - Told it leads, it first pulls from every reachable ready peer what they have beyond its
//!   own log, then starts one replication link per peer ([`crate::replication`]).
//! - As leader it places an order by buying through the catalog (idempotent by request id),
//!   appending `OrderPlaced` (the request id → number mapping in the same transaction),
//!   waiting for the live followers' durable acks, and only then answering. A request id it
//!   already holds is answered with the recorded number.
//! - As follower it appends only the next sequence number; an older one must match what it
//!   holds (or the replica resynchronises from the leader).
//! - A leader replaced by a newer epoch, or a replica whose log disagrees with its leader's,
//!   goes back to recovering and resynchronises from the leader, dropping a tail that was
//!   never acknowledged ([`crate::recovery`]).
//!
//! Role changes are serialised by one async lock; the state itself is a small mutex that is
//! never held across an await.

use crate::api::{LeaderNotice, OrderPlacedReply, OrderRecord, PlaceOrder, ReplicaStatus, Role};
use crate::client::ReplicaClient;
use crate::fence::{self, Fence};
use crate::projection::{OrderProjection, ORDERS, REQUESTS};
use crate::recovery::sync_from;
use crate::replication::{Followers, Link, NotReplicated};
use bytes::Bytes;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_catalog::api::BuyRequest;
use toystore_catalog::CatalogClient;
use toystore_events::frame::{Frame, FrameDecoder};
use toystore_events::{decode, OrderEvent, Seq};
use toystore_net::ApiError;
use toystore_store::redb::ReadableTable;
use toystore_store::{EventLog, StoreError};
use warp::http::StatusCode;

/// Timing of a replica.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a purchase waits for followers' acks before leaving laggards behind.
    pub replication_timeout: Duration,
    /// How long a peer's stream may be silent before a sync gives up on it.
    pub stream_silence: Duration,
    /// Heartbeat interval of the replica's own event stream.
    pub heartbeat: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            replication_timeout: Duration::from_millis(1000),
            stream_silence: Duration::from_secs(3),
            heartbeat: Duration::from_millis(500),
        }
    }
}

struct State {
    role: Role,
    fence: Fence,
    /// Cancelled when the current leadership (if any) ends.
    term: CancellationToken,
    /// Counts leaderships, to tell the current one from an ended one.
    term_id: u64,
    followers: Option<Arc<Followers>>,
}

/// One order replica.
pub struct Replica {
    id: u32,
    log: Arc<EventLog<OrderEvent>>,
    peers: Vec<ReplicaClient>,
    catalog: CatalogClient,
    timing: Timing,
    state: Mutex<State>,
    transitions: tokio::sync::Mutex<()>,
    stop: CancellationToken,
}

fn not_leader() -> ApiError {
    ApiError::new(StatusCode::MISDIRECTED_REQUEST, "not the leader")
}

fn stale_epoch(mine: u64) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        format!("stale epoch (this replica has seen epoch {mine})"),
    )
}

fn key_reused() -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "idempotency key reused for a different order",
    )
}

fn recovering() -> ApiError {
    ApiError::unavailable("replica is recovering")
}

fn storage(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "order storage error");
    ApiError::internal("storage error")
}

impl Replica {
    /// Opens the replica's log (creating it if needed). It starts recovering; call
    /// [`Replica::recover`] to catch up and become ready.
    pub fn open(
        id: u32,
        path: &Path,
        peers: Vec<ReplicaClient>,
        catalog: CatalogClient,
        timing: Timing,
        stop: CancellationToken,
    ) -> Result<Self, StoreError> {
        let log = EventLog::open(path, OrderProjection)?;
        let fence = fence::load(&log)?;
        Ok(Self {
            id,
            log: Arc::new(log),
            peers,
            catalog,
            timing,
            state: Mutex::new(State {
                role: Role::Recovering,
                fence,
                term: CancellationToken::new(),
                term_id: 0,
                followers: None,
            }),
            transitions: tokio::sync::Mutex::new(()),
            stop,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The replica's log.
    pub fn log(&self) -> &Arc<EventLog<OrderEvent>> {
        &self.log
    }

    /// The replica's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// What the replica says about itself.
    pub fn status(&self) -> ReplicaStatus {
        // Read before the state, so a concurrent append can only make last_seq newer
        // than last_epoch says, never the reverse.
        let last_epoch = fence::last_epoch(&self.log).unwrap_or(0);
        let s = self.state();
        ReplicaStatus {
            id: self.id,
            role: s.role,
            ready: s.role != Role::Recovering,
            epoch: s.fence.epoch,
            leader: s.fence.leader,
            last_seq: self.log.last_seq(),
            last_epoch,
        }
    }

    fn set_role(&self, role: Role) {
        let mut s = self.state();
        if s.role != role {
            tracing::info!(replica = self.id, from = ?s.role, to = ?role, epoch = s.fence.epoch, "role change");
            s.role = role;
        }
    }

    /// Catches up from the peers and becomes a follower. The source is the peer that leads
    /// the newest epoch (authoritative), else the ready peer with the newest epoch and the
    /// longest log; with no ready peer, the replica's own log is all there is.
    pub async fn recover(&self) {
        loop {
            if self.stop.is_cancelled() {
                return;
            }
            let _guard = self.transitions.lock().await;
            if self.state().role != Role::Recovering {
                return;
            }
            match self.recover_once().await {
                Ok(()) => {
                    self.set_role(Role::Follower);
                    return;
                }
                Err(e) => {
                    tracing::warn!(replica = self.id, error = %e, "recovery attempt failed; retrying")
                }
            }
            drop(_guard);
            tokio::select! {
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                () = self.stop.cancelled() => return,
            }
        }
    }

    async fn recover_once(&self) -> Result<(), String> {
        let statuses = self.peer_statuses().await;
        let known_leader = self.state().fence.leader;
        let source = statuses
            .iter()
            .filter(|(_, s)| s.ready)
            .max_by_key(|(_, s)| (s.role == Role::Leader, s.epoch, s.last_seq));
        let Some((peer, status)) = source else {
            tracing::info!(replica = self.id, last_seq = %self.log.last_seq(), "no ready peer; recovered from own log");
            return Ok(());
        };
        let authoritative = status.role == Role::Leader && status.epoch >= self.state().fence.epoch;
        let report = sync_from(
            &self.log,
            peer,
            Seq::ZERO,
            authoritative,
            status.last_epoch,
            self.timing.stream_silence,
        )
        .await
        .map_err(|e| e.to_string())?;
        tracing::info!(replica = self.id, source = peer.id(), authoritative, ?known_leader, appended = report.appended, truncated = report.truncated, last_seq = %self.log.last_seq(), "recovered from peer");
        if authoritative && status.epoch > self.state().fence.epoch {
            // Caught up from the leader of a newer epoch: follow it from now on.
            let fence = Fence {
                epoch: status.epoch,
                leader: Some(peer.id()),
            };
            fence::store(&self.log, fence)
                .await
                .map_err(|e| e.to_string())?;
            self.state().fence = fence;
        }
        Ok(())
    }

    async fn peer_statuses(&self) -> Vec<(&ReplicaClient, ReplicaStatus)> {
        let checks = self
            .peers
            .iter()
            .map(|p| async move { (p, p.health().await) });
        futures_util::future::join_all(checks)
            .await
            .into_iter()
            .filter_map(|(p, r)| r.ok().map(|s| (p, s)))
            .collect()
    }

    /// Handles the front-end's announcement of a new epoch's leader.
    pub async fn on_notice(
        self: &Arc<Self>,
        notice: LeaderNotice,
    ) -> Result<ReplicaStatus, ApiError> {
        let _guard = self.transitions.lock().await;
        {
            let s = self.state();
            if notice.epoch < s.fence.epoch {
                return Err(stale_epoch(s.fence.epoch));
            }
            if notice.epoch == s.fence.epoch {
                return if s.fence.leader == Some(notice.leader) {
                    drop(s);
                    Ok(self.status())
                } else {
                    Err(stale_epoch(s.fence.epoch))
                };
            }
            if notice.leader == self.id && s.role == Role::Recovering {
                return Err(recovering());
            }
        }
        let fence = Fence {
            epoch: notice.epoch,
            leader: Some(notice.leader),
        };
        fence::store(&self.log, fence).await.map_err(storage)?;
        let was_leader = {
            let mut s = self.state();
            s.fence = fence;
            s.term.cancel();
            s.followers = None;
            s.role == Role::Leader
        };
        tracing::info!(
            replica = self.id,
            epoch = notice.epoch,
            leader = notice.leader,
            "new epoch"
        );
        if notice.leader == self.id {
            if let Err(e) = self.take_over(notice.epoch).await {
                tracing::warn!(replica = self.id, epoch = notice.epoch, reason = %e.message, "not taking the lead");
                self.set_role(Role::Follower);
                return Err(e);
            }
        } else if was_leader {
            self.resync();
        }
        Ok(self.status())
    }

    /// Becomes leader of `epoch`: pulls what ready peers have beyond this log, then starts
    /// the replication links.
    async fn take_over(self: &Arc<Self>, epoch: u64) -> Result<(), ApiError> {
        self.set_role(Role::Recovering);
        let statuses = self.peer_statuses().await;
        let replicas = self.peers.len() + 1;
        if statuses.len() + 1 < replicas / 2 + 1 {
            return Err(ApiError::unavailable("cannot reach a majority of replicas"));
        }
        // Every acknowledged order is on a majority, and this majority intersects it: the
        // most up-to-date log among them holds every acknowledged order.
        let mine = (
            fence::last_epoch(&self.log).map_err(storage)?,
            self.log.last_seq(),
        );
        let best = statuses
            .iter()
            .max_by_key(|(_, s)| (s.last_epoch, s.last_seq))
            .filter(|(_, s)| (s.last_epoch, s.last_seq) > mine);
        if let Some((peer, status)) = best {
            if !status.ready {
                return Err(ApiError::unavailable(
                    "a more up-to-date replica is still recovering",
                ));
            }
            let report = sync_from(
                &self.log,
                peer,
                Seq::ZERO,
                true,
                status.last_epoch,
                self.timing.stream_silence,
            )
            .await
            .map_err(|e| ApiError::unavailable(format!("cannot catch up before leading: {e}")))?;
            tracing::info!(
                replica = self.id,
                peer = peer.id(),
                appended = report.appended,
                truncated = report.truncated,
                "took the most up-to-date log before leading"
            );
        }
        let term = CancellationToken::new();
        let followers = Arc::new(Followers::new(self.peers.iter().map(|p| p.id())));
        for peer in &self.peers {
            let link = Link {
                log: self.log.clone(),
                peer: peer.clone(),
                leader_id: self.id,
                epoch,
                followers: followers.clone(),
                push_timeout: self.timing.replication_timeout,
                term: term.clone(),
            };
            tokio::spawn(link.run());
        }
        let term_id = {
            let mut s = self.state();
            s.term = term.clone();
            s.term_id += 1;
            s.followers = Some(followers);
            s.term_id
        };
        let me = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = me.stop.cancelled() => term.cancel(),
                () = term.cancelled() => me.step_down(term_id).await,
            }
        });
        self.set_role(Role::Leader);
        tracing::info!(replica = self.id, epoch, last_seq = %self.log.last_seq(), "leading");
        Ok(())
    }

    /// Ends leadership `term_id` if it is still the current one and ended on its own (a
    /// follower knew a newer epoch): the replica resynchronises from the new leader, since
    /// its last appends may never have been replicated.
    async fn step_down(self: Arc<Self>, term_id: u64) {
        let _guard = self.transitions.lock().await;
        {
            let mut s = self.state();
            if s.term_id != term_id || s.role != Role::Leader {
                return;
            }
            s.followers = None;
        }
        tracing::warn!(
            replica = self.id,
            "a newer epoch exists; stepping down to resynchronise"
        );
        self.set_role(Role::Recovering);
        drop(_guard);
        self.recover().await;
    }

    /// The current leadership (its term, followers and epoch), or 421.
    fn leadership(&self) -> Result<(CancellationToken, Arc<Followers>, u64), ApiError> {
        let s = self.state();
        match (&s.role, &s.followers) {
            (Role::Leader, Some(f)) if !s.term.is_cancelled() => {
                Ok((s.term.clone(), f.clone(), s.fence.epoch))
            }
            _ => Err(not_leader()),
        }
    }

    fn recorded(&self, request_id: &str) -> Result<Option<u64>, StoreError> {
        let tx = self.log.begin_read()?;
        let table = tx.open_table(REQUESTS)?;
        let number = table.get(request_id)?.map(|v| v.value());
        Ok(number)
    }

    /// Places an order (leader only).
    pub async fn place(&self, order: PlaceOrder) -> Result<OrderPlacedReply, ApiError> {
        let (term, followers, epoch) = self.leadership()?;
        let replicated = |number: u64| {
            let (term, followers) = (term.clone(), followers.clone());
            let timeout = self.timing.replication_timeout;
            async move {
                match followers.wait_for(Seq(number + 1), timeout, &term).await {
                    Ok(()) => Ok(()),
                    Err(NotReplicated::NotLeader) => Err(not_leader()),
                    Err(NotReplicated::NoMajority) => Err(ApiError::unavailable(
                        "order not yet held by a majority of replicas",
                    )),
                }
            }
        };
        if let Some(number) = self.recorded(&order.request_id).map_err(storage)? {
            let same = self
                .record(number)?
                .is_some_and(|r| r.name == order.name && r.quantity == order.quantity);
            if !same {
                return Err(key_reused());
            }
            replicated(number).await?;
            return Ok(OrderPlacedReply {
                order_number: number,
                replayed: true,
            });
        }
        let buy = BuyRequest {
            request_id: order.request_id.clone(),
            name: order.name.clone(),
            quantity: order.quantity,
        };
        if let Err(e) = self.catalog.buy(&buy).await {
            return Err(match e.status() {
                Some(404) => ApiError::not_found("product not found"),
                Some(409) => ApiError::new(StatusCode::CONFLICT, "insufficient stock"),
                Some(code @ (400 | 422)) => ApiError::new(
                    StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                    e.to_string(),
                ),
                _ => {
                    tracing::warn!(error = %e, "catalog buy failed");
                    ApiError::unavailable("catalog unavailable")
                }
            });
        }
        crate::failpoint::hit("after-buy");
        let t = term.clone();
        let placed = self
            .log
            .execute(move |b| {
                if t.is_cancelled() {
                    return Ok(None);
                }
                let earlier = {
                    let requests = b.tx().open_table(REQUESTS)?;
                    let n = requests.get(order.request_id.as_str())?.map(|v| v.value());
                    n
                };
                if let Some(number) = earlier {
                    return Ok(Some((number, true)));
                }
                let number = b.last_seq().0;
                b.append(&OrderEvent::OrderPlaced {
                    number,
                    request_id: order.request_id,
                    name: order.name,
                    quantity: order.quantity,
                })?;
                fence::set_last_epoch_in(b.tx(), epoch)?;
                Ok(Some((number, false)))
            })
            .await
            .map_err(storage)?;
        let (number, replayed) = placed.ok_or_else(not_leader)?;
        crate::failpoint::hit("after-append");
        replicated(number).await?;
        Ok(OrderPlacedReply {
            order_number: number,
            replayed,
        })
    }

    /// Reads an order (leader only: followers may lag).
    pub fn order(&self, number: u64) -> Result<OrderRecord, ApiError> {
        self.leadership()?;
        self.record(number)?
            .ok_or_else(|| ApiError::not_found("order not found"))
    }

    /// The order with this number in the projection, if any.
    fn record(&self, number: u64) -> Result<Option<OrderRecord>, ApiError> {
        let tx = self.log.begin_read().map_err(storage)?;
        let table = tx.open_table(ORDERS).map_err(|e| storage(e.into()))?;
        let row = table.get(number).map_err(|e| storage(e.into()))?.map(|v| {
            let (name, quantity) = v.value();
            OrderRecord {
                number,
                name: name.to_string(),
                quantity,
            }
        });
        Ok(row)
    }

    /// Handles a replication push from the leader of `epoch`, whose log ends at
    /// `leader_last`. The push re-sends the entry this replica acknowledged last: every
    /// entry it already holds must be identical, and it must hold nothing beyond its
    /// leader's log; otherwise its log has a tail that was never acknowledged, and it
    /// resynchronises from the leader.
    pub async fn on_replicate(
        self: &Arc<Self>,
        epoch: u64,
        leader: u32,
        leader_last: Seq,
        frames: Bytes,
    ) -> Result<Seq, ApiError> {
        let known = self.state().fence;
        if epoch < known.epoch {
            return Err(stale_epoch(known.epoch));
        }
        if epoch > known.epoch {
            // A leader we have not been told about yet: the front-end announced it while
            // this replica was unreachable. Adopt it like an announcement.
            self.on_notice(LeaderNotice { epoch, leader }).await?;
        } else if known.leader != Some(leader) {
            return Err(stale_epoch(known.epoch));
        }
        if self.state().role != Role::Follower {
            return Err(recovering());
        }
        let events = decode_frames(&frames)?;
        let outcome = self
            .log
            .execute(move |b| {
                // Checked again inside the transaction: an announcement of a newer epoch
                // commits through the same writer, so no push of an older one slips past.
                let fenced = fence::epoch_in(b.tx())?;
                if fenced > epoch {
                    return Ok(Push::Stale(fenced));
                }
                for (seq, payload) in &events {
                    if *seq <= b.last_seq() {
                        let theirs: OrderEvent = decode(payload)
                            .map_err(|source| StoreError::Decode { seq: *seq, source })?;
                        if b.event_at(*seq)?.as_ref() != Some(&theirs) {
                            return Ok(Push::Diverged(*seq));
                        }
                        continue;
                    }
                    if *seq != b.last_seq().next() {
                        break;
                    }
                    b.append_at(*seq, payload)?;
                    fence::set_last_epoch_in(b.tx(), epoch)?;
                }
                if b.last_seq() > leader_last {
                    return Ok(Push::Ahead(b.last_seq()));
                }
                Ok(Push::Appended(b.last_seq()))
            })
            .await
            .map_err(storage)?;
        match outcome {
            Push::Appended(last) => Ok(last),
            Push::Stale(fenced) => Err(stale_epoch(fenced)),
            Push::Diverged(seq) => {
                tracing::warn!(replica = self.id, seq = %seq, "log differs from the leader's; resynchronising");
                self.resync();
                Err(recovering())
            }
            Push::Ahead(last) => {
                tracing::warn!(replica = self.id, ours = %last, leader = %leader_last, "log holds entries the leader lacks; resynchronising");
                self.resync();
                Err(recovering())
            }
        }
    }

    /// Goes back to recovering and catches up from the leader in the background.
    fn resync(self: &Arc<Self>) {
        self.set_role(Role::Recovering);
        let me = self.clone();
        tokio::spawn(async move { me.recover().await });
    }
}

/// What a replication push did.
enum Push {
    Appended(Seq),
    Stale(u64),
    Diverged(Seq),
    Ahead(Seq),
}

/// The event frames of a replication push.
fn decode_frames(frames: &[u8]) -> Result<Vec<(Seq, Bytes)>, ApiError> {
    let mut decoder = FrameDecoder::new();
    decoder.push(frames);
    let mut events = Vec::new();
    loop {
        match decoder.next_frame() {
            Ok(Some(Frame::Event { seq, payload })) => events.push((seq, payload)),
            Ok(Some(Frame::Heartbeat { .. })) => {}
            Ok(None) if decoder.pending() == 0 => return Ok(events),
            Ok(None) => return Err(ApiError::bad_request("truncated frames")),
            Err(e) => return Err(ApiError::bad_request(format!("bad frames: {e}"))),
        }
    }
}
