//! The leader's side of replication: one link per follower, and waiting for durable acks.
//!
//! Each link pushes the leader's events to its follower in order, as soon as they commit:
//! a probe first, to learn where the follower's log ends, then everything after it in
//! chunks. Every push re-sends the entry the follower already acknowledged last, so the
//! follower checks that its log agrees with the leader's where the push attaches (as
//! Raft's previous-entry check), and carries the leader's last sequence number, so a
//! follower holding entries its leader lacks knows it must resynchronise.
//!
//! [`Followers`] keeps each follower's progress. A purchase is acknowledged once a
//! majority of the replicas hold it durably (with three replicas: the leader and one
//! follower) *and* every live follower does, waiting at most the replication timeout for
//! the latter: a follower that fails or is too slow is left behind (no longer waited for)
//! and becomes live again when it has acknowledged everything it was sent. Without a
//! majority in time, the purchase is not acknowledged (the front-end retries it under the
//! same request id). A follower that answers "stale epoch" means this leader was replaced:
//! the link ends the leader's term, which fails every purchase still waiting and makes the
//! replica step down.

use crate::api::ReplicateReply;
use crate::client::ReplicaClient;
use bytes::BytesMut;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use toystore_events::frame::event_frame;
use toystore_events::{OrderEvent, Seq};
use toystore_store::EventLog;

/// Most events in one push.
const PUSH_EVENTS: usize = 512;
/// How often an idle link probes its follower (so a restarted follower is noticed).
const IDLE_PROBE: Duration = Duration::from_millis(500);
/// Longest pause between attempts to reach a failed follower.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy)]
struct Progress {
    id: u32,
    matched: Option<Seq>,
    live: bool,
}

/// Why a purchase could not be acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReplicated {
    /// This replica's leadership ended.
    NotLeader,
    /// Too few followers acknowledged in time for a majority.
    NoMajority,
}

/// Replication progress of every follower, for one leader term.
#[derive(Debug)]
pub struct Followers {
    progress: Mutex<Vec<Progress>>,
    /// Follower acks a majority needs (replicas / 2, the leader being one of them).
    required: usize,
    changed: Notify,
}

impl Followers {
    /// Followers with these ids, all presumed live until they fail.
    pub fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        let progress: Vec<Progress> = ids
            .into_iter()
            .map(|id| Progress {
                id,
                matched: None,
                live: true,
            })
            .collect();
        // A majority of the replicas (followers and the leader), less the leader itself.
        let replicas = progress.len() + 1;
        let required = replicas / 2;
        Self {
            progress: Mutex::new(progress),
            required,
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Progress>> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, id: u32, f: impl FnOnce(&mut Progress)) {
        if let Some(p) = self.lock().iter_mut().find(|p| p.id == id) {
            f(p);
        }
        self.changed.notify_waiters();
    }

    fn matched(&self, id: u32) -> Option<Seq> {
        self.lock()
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.matched)
    }

    /// (followers holding `seq`, whether every live follower holds it).
    fn holders(&self, seq: Seq) -> (usize, bool) {
        let all = self.lock();
        let has = |p: &Progress| p.matched.is_some_and(|m| m >= seq);
        let holders = all.iter().filter(|p| has(p)).count();
        (holders, all.iter().all(|p| !p.live || has(p)))
    }

    /// Leaves behind every live follower that does not hold `seq`; returns their ids.
    fn leave_behind(&self, seq: Seq) -> Vec<u32> {
        let mut left = Vec::new();
        for p in self.lock().iter_mut() {
            if p.live && p.matched.is_none_or(|m| m < seq) {
                p.live = false;
                left.push(p.id);
            }
        }
        left
    }

    /// Waits until a majority holds `seq` and every live follower does, for at most
    /// `timeout` (then leaves the laggards behind, if a majority holds it).
    pub async fn wait_for(
        &self,
        seq: Seq,
        timeout: Duration,
        term: &CancellationToken,
    ) -> Result<(), NotReplicated> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if term.is_cancelled() {
                return Err(NotReplicated::NotLeader);
            }
            let (holders, all_live) = self.holders(seq);
            if holders >= self.required && all_live {
                return Ok(());
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(deadline) => {
                    let (holders, _) = self.holders(seq);
                    if holders < self.required {
                        tracing::warn!(seq = %seq, holders, required = self.required, "no majority holds the order in time");
                        return Err(NotReplicated::NoMajority);
                    }
                    let left = self.leave_behind(seq);
                    tracing::warn!(seq = %seq, followers = ?left, "replication timed out; followers left behind");
                    return if term.is_cancelled() { Err(NotReplicated::NotLeader) } else { Ok(()) };
                }
                () = term.cancelled() => return Err(NotReplicated::NotLeader),
            }
        }
    }
}

/// What one link pushes with.
pub struct Link {
    /// The leader's log.
    pub log: Arc<EventLog<OrderEvent>>,
    /// The follower.
    pub peer: ReplicaClient,
    /// The leader's id.
    pub leader_id: u32,
    /// The leader's epoch.
    pub epoch: u64,
    /// Progress of all followers.
    pub followers: Arc<Followers>,
    /// How long one push may take.
    pub push_timeout: Duration,
    /// The leadership: the link ends with it, and ends it on a "stale epoch" answer.
    pub term: CancellationToken,
}

impl Link {
    /// Pushes the log to the follower until the term ends.
    pub async fn run(self) {
        let id = self.peer.id();
        let mut commits = self.log.subscribe();
        let mut backoff = Duration::from_millis(20);
        let mut was_up = true;
        while !self.term.is_cancelled() {
            let last = *commits.borrow_and_update();
            let matched = self.followers.matched(id);
            let (frames, upto) = match matched {
                Some(m) if m >= last => {
                    tokio::select! {
                        _ = commits.changed() => continue,
                        () = tokio::time::sleep(IDLE_PROBE) => (BytesMut::new(), last),
                        () = self.term.cancelled() => return,
                    }
                }
                // Re-send the entry at `m` so the follower checks where the push attaches.
                Some(m) => match frames_after(&self.log, Seq(m.0.saturating_sub(1))) {
                    Ok(pushed) => pushed,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read own log for replication");
                        pause(&self.term, MAX_BACKOFF).await;
                        continue;
                    }
                },
                None => (BytesMut::new(), last),
            };
            let pushed = tokio::select! {
                r = self.peer.replicate(self.epoch, self.leader_id, last, frames.freeze(), self.push_timeout) => r,
                () = self.term.cancelled() => return,
            };
            match pushed {
                Ok(reply) => {
                    if !was_up {
                        tracing::info!(follower = id, last_seq = %reply.last_seq, "follower reachable again");
                        was_up = true;
                    }
                    backoff = Duration::from_millis(20);
                    self.acknowledged(id, reply, upto);
                }
                Err(e) if e.status() == Some(409) => {
                    tracing::warn!(follower = id, error = %e, "follower knows a newer epoch; this leader steps down");
                    self.term.cancel();
                    return;
                }
                Err(e) => {
                    if was_up {
                        tracing::warn!(follower = id, error = %e, "follower unavailable; not waiting for it");
                        was_up = false;
                    }
                    self.followers.update(id, |p| {
                        p.live = false;
                        p.matched = None;
                    });
                    pause(&self.term, backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Records a follower's durable position after a push that carried events up to
    /// `upto`: it is live again once it holds all of them.
    fn acknowledged(&self, id: u32, reply: ReplicateReply, upto: Seq) {
        let leader_last = self.log.last_seq();
        let theirs = reply.last_seq.min(leader_last);
        self.followers.update(id, |p| {
            p.matched = Some(theirs);
            if theirs >= upto && !p.live {
                tracing::info!(follower = id, last_seq = %theirs, "follower caught up");
                p.live = true;
            }
        });
    }
}

async fn pause(term: &CancellationToken, d: Duration) {
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        () = term.cancelled() => {}
    }
}

/// Frames of the events after `after` (at most [`PUSH_EVENTS`]) and the last seq included.
fn frames_after(
    log: &EventLog<OrderEvent>,
    after: Seq,
) -> Result<(BytesMut, Seq), toystore_store::StoreError> {
    let mut out = BytesMut::new();
    let mut upto = after;
    for item in log.read_raw_after(after)?.take(PUSH_EVENTS) {
        let (seq, bytes) = item?;
        out.extend_from_slice(&event_frame(seq, &bytes));
        upto = seq;
    }
    Ok((out, upto))
}
