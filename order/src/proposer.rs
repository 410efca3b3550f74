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
//!
//! Those decisions (how much one entry takes, how openraft's refusal and a timeout become a
//! [`ProposeError`], one outcome per purchase) are small pure functions, unit-tested here.

use crate::types::{OrderNode, Outcome, Proposal};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};
use toystore_config::ReplicaId;
use toystore_events::Purchase;
use toystore_raft::leadership::{Unconfirmed, WriteError};

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
        leader: Option<ReplicaId>,
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
        let batch = gather(first, MAX_BATCH, || rx.try_recv().ok());
        let raft = raft.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let (purchases, replies): (Vec<Purchase>, Vec<Reply>) = batch.into_iter().unzip();
            let n = purchases.len();
            metrics.batch_size.observe(n as f64);
            let started = Instant::now();
            let written = written(
                tokio::time::timeout(timeout, raft.client_write(Proposal { purchases }))
                    .await
                    .ok(),
            );
            if written.is_ok() {
                metrics
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            drop(slot);
            let outcomes = written.and_then(|resp| one_each(n, resp.data.0));
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

/// The purchases of one proposal: `first`, then whatever `next` yields at once, up to `max`
/// in all (`next` is not called again once it yields nothing, or once `max` are taken).
fn gather<T>(first: T, max: usize, mut next: impl FnMut() -> Option<T>) -> Vec<T> {
    let mut batch = vec![first];
    while batch.len() < max {
        match next() {
            Some(item) => batch.push(item),
            None => break,
        }
    }
    batch
}

/// A `client_write` given `timeout`: `None` when it did not answer in time.
fn written<T>(answer: Option<Result<T, WriteError>>) -> Result<T, ProposeError> {
    answer
        .ok_or_else(|| ProposeError::Unavailable("order not committed in time".into()))
        .and_then(|r| r.map_err(refusal))
}

/// The state machine's outcomes for a proposal of `n` purchases: one per purchase, or the
/// proposal fails (every caller is told the replica is unavailable).
fn one_each(n: usize, outcomes: Vec<Outcome>) -> Result<Vec<Outcome>, ProposeError> {
    if outcomes.len() == n {
        return Ok(outcomes);
    }
    tracing::error!(
        purchases = n,
        outcomes = outcomes.len(),
        "the state machine answered a proposal with the wrong number of outcomes"
    );
    Err(ProposeError::Unavailable(
        "unexpected reply from the state machine".into(),
    ))
}

/// openraft's refusal as a [`ProposeError`]: forward to the leader is
/// [`ProposeError::NotLeader`] with openraft's hint; anything else (a membership refusal,
/// a stopped or failed Raft) is [`ProposeError::Unavailable`] with openraft's text.
fn refusal(e: WriteError) -> ProposeError {
    match toystore_raft::leadership::write_refused(e) {
        Unconfirmed::NotLeader { leader } => ProposeError::NotLeader { leader },
        Unconfirmed::Unavailable(m) => ProposeError::Unavailable(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::error::{
        ChangeMembershipError, ClientWriteError, EmptyMembership, Fatal, ForwardToLeader, RaftError,
    };
    use openraft::BasicNode;

    fn forward(leader: Option<ReplicaId>) -> WriteError {
        RaftError::APIError(ClientWriteError::ForwardToLeader(match leader {
            Some(id) => ForwardToLeader::new(id, BasicNode::new("127.0.0.1:9002")),
            None => ForwardToLeader::empty(),
        }))
    }

    fn placed(number: u64) -> Outcome {
        Outcome::Placed {
            number: number.into(),
            new: true,
        }
    }

    #[test]
    fn forward_to_leader_is_not_leader_with_the_hint() {
        assert_eq!(
            refusal(forward(Some(2))),
            ProposeError::NotLeader { leader: Some(2) }
        );
        assert_eq!(
            refusal(forward(None)),
            ProposeError::NotLeader { leader: None }
        );
    }

    #[test]
    fn other_refusals_are_unavailable_with_openraft_s_text() {
        assert_eq!(
            refusal(RaftError::Fatal(Fatal::Stopped)),
            ProposeError::Unavailable("raft stopped".into())
        );
        assert_eq!(
            refusal(RaftError::Fatal(Fatal::Panicked)),
            ProposeError::Unavailable("panicked".into())
        );
        assert_eq!(
            refusal(RaftError::APIError(
                ClientWriteError::ChangeMembershipError(ChangeMembershipError::EmptyMembership(
                    EmptyMembership {}
                ))
            )),
            ProposeError::Unavailable("new membership can not be empty".into())
        );
    }

    #[test]
    fn a_write_without_an_answer_in_time_is_unavailable() {
        assert_eq!(
            written::<u8>(None),
            Err(ProposeError::Unavailable(
                "order not committed in time".into()
            ))
        );
    }

    #[test]
    fn a_write_answered_in_time_is_its_answer_or_its_refusal() {
        assert_eq!(written(Some(Ok(7_u8))), Ok(7));
        assert_eq!(
            written::<u8>(Some(Err(forward(Some(3))))),
            Err(ProposeError::NotLeader { leader: Some(3) })
        );
        assert_eq!(
            written::<u8>(Some(Err(RaftError::Fatal(Fatal::Stopped)))),
            Err(ProposeError::Unavailable("raft stopped".into()))
        );
    }

    #[test]
    fn one_outcome_per_purchase_is_handed_out_in_order() {
        let outcomes = vec![
            placed(4),
            Outcome::KeyReused { number: 1.into() },
            placed(5),
        ];
        assert_eq!(one_each(3, outcomes.clone()), Ok(outcomes));
        assert_eq!(one_each(0, Vec::new()), Ok(Vec::new()));
    }

    #[test]
    fn the_wrong_number_of_outcomes_fails_the_proposal() {
        let wrong = Err(ProposeError::Unavailable(
            "unexpected reply from the state machine".into(),
        ));
        assert_eq!(one_each(2, vec![placed(4)]), wrong);
        assert_eq!(one_each(1, vec![placed(4), placed(5)]), wrong);
        assert_eq!(one_each(1, Vec::new()), wrong);
    }

    #[test]
    fn a_batch_takes_what_waits_and_stops_when_nothing_does() {
        let mut queue = vec![3, 2].into_iter();
        let mut calls = 0;
        let batch = gather(1, MAX_BATCH, || {
            calls += 1;
            queue.next()
        });
        assert_eq!(batch, vec![1, 3, 2]);
        assert_eq!(calls, 3, "stops at the first empty answer");
        assert_eq!(gather(1, MAX_BATCH, || None), vec![1]);
    }

    #[test]
    fn a_batch_stops_at_its_maximum() {
        let mut next = 1;
        let mut calls = 0;
        let batch = gather(0, 4, || {
            calls += 1;
            next += 1;
            Some(next - 1)
        });
        assert_eq!(batch, vec![0, 1, 2, 3]);
        assert_eq!(calls, 3, "the fourth purchase fills it: no more is taken");
        let full = gather(0_usize, MAX_BATCH, || Some(9));
        assert_eq!(full.len(), MAX_BATCH);
        assert_eq!(gather(5, 1, || Some(6)), vec![5]);
    }
}
