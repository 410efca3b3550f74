//! [`Proposer`]: batches the leader's concurrent writes (purchases) into Raft entries.
//!
//! openraft 0.9 writes a leader's entries to its log one `client_write` at a time, waiting
//! for each durable append before it looks at the next, so one write per entry costs one
//! fsync per write on the leader however many callers wait. The proposer is the group
//! commit in front of Raft: items queue on a channel; a task takes every item waiting (up
//! to [`MAX_BATCH`]) into one entry (the service's `entry` function makes its data) and
//! proposes it with `client_write`, with at most [`IN_FLIGHT`] (one) proposal outstanding,
//! so items that arrive while it is being replicated share the next entry. A lone item is
//! proposed at once, alone. The order replicas batch purchases into orders, the catalog
//! replicas buys.
//!
//! Why one: openraft 0.9 takes the next entry only after the last one's durable append, so
//! a second proposal outstanding overlaps little; it mostly splits the items waiting into
//! more, smaller entries, each costing every replica its own durable append, HTTP round
//! trip and apply. With 64 clients, one outstanding sold 22% more than four (3,753 against
//! 3,077 buys/s, six interleaved runs; docs/PERFORMANCE.md, "One proposal outstanding").
//!
//! Each caller gets the outcome of its own item (the service's `split` function takes an
//! entry's reply apart; the state machine applies an entry's items in order, so two items
//! with one request id in one entry behave as they would in two), or the proposal's refusal: [`ProposeError::NotLeader`] with openraft's leader hint,
//! or [`ProposeError::Unavailable`] (not committed within the write timeout, or Raft stopped).
//! A caller that stops waiting changes nothing: its purchase may still be committed, which a
//! retry with the same request id finds.
//!
//! Those decisions (how much one entry takes, how openraft's refusal and a timeout become a
//! [`ProposeError`], one outcome per item) are small pure functions, unit-tested here.

use crate::disk::Disk;
use crate::leadership::{written, Unconfirmed};
use crate::Types;
use openraft::Raft;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The most items in one entry.
pub const MAX_BATCH: usize = 512;

/// The most proposals outstanding at once (see the module doc for why one).
pub const IN_FLIGHT: usize = 1;

/// Why a proposal did not yield an outcome: this replica does not lead (openraft's hint),
/// or the entry was not committed in time, or Raft is stopping
/// ([`crate::leadership::Unconfirmed`], the refusal every leader-only operation gives).
pub type ProposeError = Unconfirmed;

type Reply<O> = oneshot::Sender<Result<O, ProposeError>>;

/// What the proposer measures: how long a proposal takes to commit and apply, and how many
/// items it carries (the group commit at work).
#[derive(Debug, Clone)]
pub struct ProposalMetrics {
    /// Seconds from `client_write` to its answer, for proposals that committed.
    pub commit_seconds: Histogram,
    /// Items per proposal.
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

/// The handle that queues items; the batching task stops when the last handle is dropped.
pub struct Proposer<I, O> {
    queue: mpsc::UnboundedSender<(I, Reply<O>)>,
    metrics: ProposalMetrics,
    disk: Arc<Disk>,
}

impl<I, O> Clone for Proposer<I, O> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            metrics: self.metrics.clone(),
            disk: self.disk.clone(),
        }
    }
}

/// How a service's items become an entry and its reply their outcomes.
#[derive(Debug, Clone, Copy)]
pub struct Entries<C: Types, I, O> {
    /// The entry's data for these items, in order.
    pub entry: fn(Vec<I>) -> C::D,
    /// The outcomes in the applied entry's reply, one per item, in order.
    pub split: fn(C::R) -> Vec<O>,
}

impl<I: Send + 'static, O: Send + 'static> Proposer<I, O> {
    /// Starts the batching task for `raft` (call within a Tokio runtime). A proposal not
    /// committed and applied within `timeout` fails its callers with `Unavailable`; while
    /// `disk` is below its reserve, items are refused at once (`Unavailable`, `insufficient
    /// disk space: …`).
    pub fn start<C: Types>(
        raft: Raft<C>,
        timeout: Duration,
        entries: Entries<C, I, O>,
        disk: Arc<Disk>,
    ) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        let metrics = ProposalMetrics::default();
        tokio::spawn(run(raft, rx, timeout, entries, metrics.clone()));
        Self {
            queue,
            metrics,
            disk,
        }
    }

    /// Its measurements (shared handles: register them to export them).
    pub fn metrics(&self) -> &ProposalMetrics {
        &self.metrics
    }

    /// Proposes `item` in the next entry and waits for its outcome.
    pub async fn propose(&self, item: I) -> Result<O, ProposeError> {
        self.disk
            .check()
            .map_err(|low| ProposeError::Unavailable(low.to_string()))?;
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((item, tx))
            .map_err(|_| ProposeError::Unavailable("the proposer has stopped".into()))?;
        rx.await
            .map_err(|_| ProposeError::Unavailable("the proposal was dropped".into()))?
    }
}

async fn run<C: Types, I: Send + 'static, O: Send + 'static>(
    raft: Raft<C>,
    mut rx: mpsc::UnboundedReceiver<(I, Reply<O>)>,
    timeout: Duration,
    entries: Entries<C, I, O>,
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
            let (items, replies): (Vec<I>, Vec<Reply<O>>) = batch.into_iter().unzip();
            let n = items.len();
            metrics.batch_size.observe(n as f64);
            let started = Instant::now();
            let written = written(
                tokio::time::timeout(timeout, raft.client_write((entries.entry)(items)))
                    .await
                    .ok(),
            );
            if written.is_ok() {
                metrics
                    .commit_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            drop(slot);
            let outcomes = written.and_then(|resp| one_each(n, (entries.split)(resp.data)));
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

/// The items of one proposal: `first`, then whatever `next` yields at once, up to `max`
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

/// The state machine's outcomes for a proposal of `n` items: one per item, or the
/// proposal fails (every caller is told the replica is unavailable).
fn one_each<O>(n: usize, outcomes: Vec<O>) -> Result<Vec<O>, ProposeError> {
    if outcomes.len() == n {
        return Ok(outcomes);
    }
    tracing::error!(
        items = n,
        outcomes = outcomes.len(),
        "the state machine answered a proposal with the wrong number of outcomes"
    );
    Err(ProposeError::Unavailable(
        "unexpected reply from the state machine".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(number: u64) -> String {
        format!("placed {number}")
    }

    #[test]
    fn one_outcome_per_purchase_is_handed_out_in_order() {
        let outcomes = vec![placed(4), "reused 1".to_string(), placed(5)];
        assert_eq!(one_each(3, outcomes.clone()), Ok(outcomes));
        assert_eq!(one_each::<String>(0, Vec::new()), Ok(Vec::new()));
    }

    #[test]
    fn the_wrong_number_of_outcomes_fails_the_proposal() {
        let wrong = Err(ProposeError::Unavailable(
            "unexpected reply from the state machine".into(),
        ));
        assert_eq!(one_each(2, vec![placed(4)]), wrong);
        assert_eq!(one_each(1, vec![placed(4), placed(5)]), wrong);
        assert_eq!(one_each::<String>(1, Vec::new()), wrong);
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
