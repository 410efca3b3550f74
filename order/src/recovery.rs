//! Catching up from a peer.
//!
//! [`sync_from`] streams a peer's log and makes this replica's log match it:
//! - events this replica already has are compared byte for byte (from `compare_after` on);
//! - events it lacks are appended, in chunks, each chunk one durable transaction;
//! - if the peer is *authoritative* (the leader of the newest epoch), a tail of this log
//!   that differs from the peer's, or extends beyond it, is truncated first. Such a tail can
//!   only hold orders that were never acknowledged (an acknowledged order is on every live
//!   replica, and a new leader pulls from every reachable one before it leads), e.g. the
//!   last appends of a leader that crashed before replicating them.
//!
//! A non-authoritative peer never causes a truncation: a mismatch with it is an error.
//! The sync ends when the peer's heartbeat says this replica has everything it has.

use crate::client::ReplicaClient;
use crate::fence;
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::Duration;
use toystore_events::{OrderEvent, Seq, StreamItem};
use toystore_store::{EventLog, RawIter, StoreError};

/// Most events appended in one transaction while catching up.
const CHUNK: usize = 512;

/// Why a sync failed.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The peer could not be streamed from.
    #[error("peer {peer}: {message}")]
    Peer {
        /// The peer's id.
        peer: u32,
        /// What went wrong.
        message: String,
    },
    /// The logs differ and the peer is not authoritative.
    #[error("log differs from peer {peer} at seq {seq}")]
    Diverged {
        /// The peer's id.
        peer: u32,
        /// The first differing sequence number.
        seq: Seq,
    },
    /// The local log failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a sync did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Events appended.
    pub appended: u64,
    /// Events removed from a divergent tail.
    pub truncated: u64,
}

/// Makes `log` match `peer`'s log (see the module doc).
pub async fn sync_from(
    log: &EventLog<OrderEvent>,
    peer: &ReplicaClient,
    compare_after: Seq,
    authoritative: bool,
    source_last_epoch: u64,
    silence: Duration,
) -> Result<SyncReport, SyncError> {
    let peer_err = |message: String| SyncError::Peer {
        peer: peer.id(),
        message,
    };
    let mine_last = log.last_seq();
    let after = compare_after.min(mine_last);
    let mut mine: RawIter = log.read_raw_after(after)?;
    let stream = peer
        .events(after)
        .await
        .map_err(|e| peer_err(e.to_string()))?;
    let mut stream = std::pin::pin!(stream);
    let mut plan = Plan::default();
    let mut report = SyncReport::default();
    loop {
        let item = tokio::time::timeout(silence, stream.next())
            .await
            .map_err(|_| peer_err(format!("silent for {silence:?}")))?
            .ok_or_else(|| peer_err("stream ended".into()))?
            .map_err(|e| peer_err(e.to_string()))?;
        match item {
            StreamItem::Event { seq, payload, .. } => {
                if !plan.diverged && seq <= mine_last {
                    let (my_seq, my_bytes) = mine
                        .next()
                        .transpose()?
                        .ok_or_else(|| peer_err(format!("own log ends before {seq}")))?;
                    if my_seq == seq && my_bytes == payload.as_ref() {
                        continue;
                    }
                    if !authoritative {
                        return Err(SyncError::Diverged {
                            peer: peer.id(),
                            seq,
                        });
                    }
                    plan.diverged = true;
                    plan.truncate_after = Some(Seq(seq.0 - 1));
                }
                plan.append.push((seq, payload));
                if plan.append.len() >= CHUNK {
                    report.add(plan.apply(log).await?);
                }
            }
            StreamItem::Heartbeat { last_seq } => {
                let caught_up = plan.append.last().is_none_or(|(s, _)| *s >= last_seq);
                if authoritative
                    && !plan.diverged
                    && plan.append.is_empty()
                    && mine_last > last_seq
                    && last_seq >= after
                {
                    plan.diverged = true;
                    plan.truncate_after = Some(last_seq);
                }
                report.add(plan.apply(log).await?);
                if caught_up && log.last_seq() >= last_seq {
                    if log.last_seq() == last_seq {
                        // The logs are now the same: so is the epoch of the last entry.
                        log.execute(move |b| {
                            let epoch = if authoritative {
                                source_last_epoch
                            } else {
                                source_last_epoch.max(fence::last_epoch_in(b.tx())?)
                            };
                            fence::set_last_epoch_in(b.tx(), epoch)
                        })
                        .await?;
                    }
                    return Ok(report);
                }
            }
        }
    }
}

impl SyncReport {
    fn add(&mut self, other: SyncReport) {
        self.appended += other.appended;
        self.truncated += other.truncated;
    }
}

/// Work gathered from the stream, applied in one transaction.
#[derive(Default)]
struct Plan {
    /// A difference was found: stop comparing, everything from here on is appended.
    diverged: bool,
    /// A truncation not applied yet.
    truncate_after: Option<Seq>,
    append: Vec<(Seq, Bytes)>,
}

impl Plan {
    async fn apply(&mut self, log: &EventLog<OrderEvent>) -> Result<SyncReport, StoreError> {
        if self.truncate_after.is_none() && self.append.is_empty() {
            return Ok(SyncReport::default());
        }
        let truncate = self.truncate_after.take();
        let append = std::mem::take(&mut self.append);
        let appended = append.len() as u64;
        let truncated = log
            .execute(move |b| {
                let truncated = match truncate {
                    Some(seq) => b.truncate_after(seq)?,
                    None => 0,
                };
                for (seq, payload) in &append {
                    b.append_at(*seq, payload)?;
                }
                Ok(truncated)
            })
            .await?;
        Ok(SyncReport {
            appended,
            truncated,
        })
    }
}
