//! The leader's side of replication: one link per follower, and waiting for durable acks.
//!
//! Each link pushes the leader's events to its follower in order (a probe first, to learn
//! where the follower's log ends; then everything after that, in chunks), as soon as they
//! commit. The follower answers with its durable last sequence number. [`Followers`] keeps
//! each follower's progress; a purchase waits until every *live* follower has its order,
//! for at most the replication timeout. A follower that fails or misses the timeout is left
//! behind (no longer waited for) and becomes live again once its link has caught it up.
//! A follower that answers "stale epoch" means this leader was replaced: the link ends the
//! leader's term, which fails every purchase still waiting.

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

/// Replication progress of every follower, for one leader term.
#[derive(Debug)]
pub struct Followers {
    progress: Mutex<Vec<Progress>>,
    changed: Notify,
}

impl Followers {
    /// Followers with these ids, all presumed live until they fail.
    pub fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        Self {
            progress: Mutex::new(
                ids.into_iter()
                    .map(|id| Progress {
                        id,
                        matched: None,
                        live: true,
                    })
                    .collect(),
            ),
            changed: Notify::new(),
        }
    }

    fn update(&self, id: u32, f: impl FnOnce(&mut Progress)) {
        let mut all = self
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = all.iter_mut().find(|p| p.id == id) {
            f(p);
        }
        drop(all);
        self.changed.notify_waiters();
    }

    fn matched(&self, id: u32) -> Option<Seq> {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .find(|p| p.id == id)
            .and_then(|p| p.matched)
    }

    /// Whether every live follower holds `seq` durably.
    fn all_live_have(&self, seq: Seq) -> bool {
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .all(|p| !p.live || p.matched.is_some_and(|m| m >= seq))
    }

    /// Leaves behind every follower that does not hold `seq`; returns their ids.
    fn leave_behind(&self, seq: Seq) -> Vec<u32> {
        let mut all = self
            .progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut left = Vec::new();
        for p in all.iter_mut() {
            if p.live && p.matched.is_none_or(|m| m < seq) {
                p.live = false;
                left.push(p.id);
            }
        }
        left
    }

    /// Waits until every live follower holds `seq`, for at most `timeout` (then leaves the
    /// laggards behind). `false` if `term` ended first: this replica is no longer leader.
    pub async fn wait_for(&self, seq: Seq, timeout: Duration, term: &CancellationToken) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            if term.is_cancelled() {
                return false;
            }
            if self.all_live_have(seq) {
                return true;
            }
            tokio::select! {
                () = changed => {}
                () = tokio::time::sleep_until(deadline) => {
                    let left = self.leave_behind(seq);
                    tracing::warn!(seq = %seq, followers = ?left, "replication timed out; followers left behind");
                    return !term.is_cancelled();
                }
                () = term.cancelled() => return false,
            }
        }
    }
}

/// Pushes `log` to `peer` until `term` ends.
pub async fn link(
    log: Arc<EventLog<OrderEvent>>,
    peer: ReplicaClient,
    leader_id: u32,
    epoch: u64,
    followers: Arc<Followers>,
    push_timeout: Duration,
    term: CancellationToken,
) {
    let id = peer.id();
    let mut commits = log.subscribe();
    let mut backoff = Duration::from_millis(20);
    let mut was_up = true;
    while !term.is_cancelled() {
        let last = *commits.borrow_and_update();
        let matched = followers.matched(id);
        let frames = match matched {
            Some(m) if m >= last => {
                tokio::select! {
                    _ = commits.changed() => continue,
                    () = tokio::time::sleep(IDLE_PROBE) => BytesMut::new(),
                    () = term.cancelled() => return,
                }
            }
            Some(m) => match frames_after(&log, m) {
                Ok(frames) => frames,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read own log for replication");
                    BytesMut::new()
                }
            },
            None => BytesMut::new(),
        };
        let pushed = tokio::select! {
            r = peer.replicate(epoch, leader_id, frames.freeze(), push_timeout) => r,
            () = term.cancelled() => return,
        };
        match pushed {
            Ok(reply) => {
                if !was_up {
                    tracing::info!(follower = id, last_seq = %reply.last_seq, "follower reachable again");
                    was_up = true;
                }
                backoff = Duration::from_millis(20);
                let leader_last = log.last_seq();
                if reply.last_seq > leader_last {
                    tracing::error!(follower = id, theirs = %reply.last_seq, ours = %leader_last, "follower is ahead of its leader; not waiting for it");
                    followers.update(id, |p| {
                        p.matched = Some(reply.last_seq);
                        p.live = false;
                    });
                    pause(&term, MAX_BACKOFF).await;
                    continue;
                }
                followers.update(id, |p| {
                    p.matched = Some(reply.last_seq);
                    if reply.last_seq >= leader_last && !p.live {
                        tracing::info!(follower = id, "follower caught up");
                        p.live = true;
                    }
                });
            }
            Err(e) if e.status() == Some(409) => {
                tracing::warn!(follower = id, error = %e, "follower knows a newer epoch; this leader steps down");
                term.cancel();
                return;
            }
            Err(e) => {
                if was_up {
                    tracing::warn!(follower = id, error = %e, "follower unreachable; not waiting for it");
                    was_up = false;
                }
                followers.update(id, |p| {
                    p.live = false;
                    p.matched = None;
                });
                pause(&term, backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn pause(term: &CancellationToken, d: Duration) {
    tokio::select! {
        () = tokio::time::sleep(d) => {}
        () = term.cancelled() => {}
    }
}

fn frames_after(
    log: &EventLog<OrderEvent>,
    after: Seq,
) -> Result<BytesMut, toystore_store::StoreError> {
    let mut out = BytesMut::new();
    for item in log.read_raw_after(after)?.take(PUSH_EVENTS) {
        let (seq, bytes) = item?;
        out.extend_from_slice(&event_frame(seq, &bytes));
    }
    Ok(out)
}
