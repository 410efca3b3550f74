//! [`Proposer`]: batches the leader's concurrent purchases into Raft entries.
//!
//! openraft 0.9 writes a leader's entries to its log one `client_write` at a time, waiting
//! for each durable append before it looks at the next, so one purchase per entry costs one
//! fsync per purchase on the leader however many buyers wait. The proposer is the group
//! commit in front of Raft: purchases queue on a channel; a task takes every purchase waiting
//! (up to [`MAX_BATCH`]) into one [`Proposal`] and proposes it with `client_write`, with at
//! most [`IN_FLIGHT`] proposals outstanding, so purchases that arrive while those are being
//! replicated share the next entry. A lone purchase is proposed at once, alone.
//!
//! Each caller gets the [`Outcome`] of its own purchase (the state machine applies an entry's
//! purchases in order, so two purchases with one request id in one entry behave as they would
//! in two), or the proposal's refusal: [`ProposeError::NotLeader`] with openraft's leader hint,
//! or [`ProposeError::Unavailable`] (not committed within the write timeout, or Raft stopped).
//! A caller that stops waiting changes nothing: its purchase may still be committed, which a
//! retry with the same request id finds.

use crate::types::{OrderNode, Outcome, Proposal, Purchase};
use openraft::error::{ClientWriteError, RaftError};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The most purchases in one entry.
pub const MAX_BATCH: usize = 512;

/// The most proposals outstanding at once.
pub const IN_FLIGHT: usize = 4;

/// Why a proposal did not yield an outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposeError {
    /// This replica does not lead; openraft's hint, if any.
    #[error("not the leader")]
    NotLeader {
        /// The leader openraft knows of.
        leader: Option<u64>,
    },
    /// Not committed in time, or Raft is stopping.
    #[error("{0}")]
    Unavailable(String),
}

type Reply = oneshot::Sender<Result<Outcome, ProposeError>>;

/// What the proposer measures: how long a proposal takes to commit and apply, and how many
/// purchases it carries (the group commit at work).
#[derive(Debug, Clone)]
pub struct ProposalMetrics {
    /// Seconds from `client_write` to its answer, for proposals that committed.
    pub commit_seconds: Histogram,
    /// Purchases per proposal.
    pub batch_size: Histogram,
}

impl Default for ProposalMetrics {
    fn default() -> Self {
        Self {
            // 100 µs to about 3.3 s, doubling.
            commit_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
            // 1 to 512 (MAX_BATCH), doubling.
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 10)),
        }
    }
}

/// The handle that queues purchases; the batching task stops when the last handle is dropped.
#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::UnboundedSender<(Purchase, Reply)>,
    metrics: ProposalMetrics,
}

impl Proposer {
    /// Starts the batching task for `raft` (call within a Tokio runtime). A proposal not
    /// committed and applied within `timeout` fails its callers with `Unavailable`.
    pub fn start(raft: OrderNode, timeout: Duration) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let metrics = ProposalMetrics::default();
        tokio::spawn(run(raft, rx, timeout, metrics.clone()));
        Self { queue, metrics }
    }

    /// Its measurements (shared handles: register them to export them).
    pub fn metrics(&self) -> &ProposalMetrics {
        &self.metrics
    }

    /// Proposes `purchase` in the next entry and waits for its outcome.
    pub async fn propose(&self, purchase: Purchase) -> Result<Outcome, ProposeError> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((purchase, tx))
            .map_err(|_| ProposeError::Unavailable("the proposer has stopped".into()))?;
        rx.await
            .map_err(|_| ProposeError::Unavailable("the proposal was dropped".into()))?
    }
}

async fn run(
    raft: OrderNode,
    mut rx: mpsc::UnboundedReceiver<(Purchase, Reply)>,
    timeout: Duration,
    metrics: ProposalMetrics,
) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // Wait for a free slot first, so purchases gather in the queue meanwhile.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = rx.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let (purchases, replies): (Vec<Purchase>, Vec<Reply>) = batch.into_iter().unzip();
            let n = purchases.len();
            metrics.batch_size.observe(n as f64);
            let started = Instant::now();
            let written = tokio::time::timeout(timeout, raft.client_write(Proposal { purchases }))
                .await
                .map_err(|_| ProposeError::Unavailable("order not committed in time".into()))
                .and_then(|r| r.map_err(refusal));
            if written.is_ok() {
                metrics
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            drop(slot);
            let outcomes = written.and_then(|resp| {
                if resp.data.0.len() == n {
                    return Ok(resp.data.0);
                }
                tracing::error!(
                    purchases = n,
                    outcomes = resp.data.0.len(),
                    "the state machine answered a proposal with the wrong number of outcomes"
                );
                Err(ProposeError::Unavailable(
                    "unexpected reply from the state machine".into(),
                ))
            });
            match outcomes {
                Ok(outcomes) => {
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}

/// openraft's refusal as a [`ProposeError`].
fn refusal(e: RaftError<u64, ClientWriteError<u64, openraft::BasicNode>>) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ProposeError::NotLeader {
            leader: f.leader_id,
        },
        other => ProposeError::Unavailable(other.to_string()),
    }
}
