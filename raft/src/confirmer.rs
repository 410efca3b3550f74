//! [`Confirmer`]: one leadership confirmation shared by every read waiting for one.
//!
//! A linearizable read on the leader first confirms, with a quorum, that it still leads
//! (openraft's `ensure_linearizable`: one heartbeat round, then waiting until everything
//! committed is applied). openraft runs one round per call, so sixteen concurrent reads
//! cost sixteen rounds. The confirmer is the reads' group commit: reads queue on a
//! channel; a task takes every read waiting, runs one round for all of them, and answers
//! each with its outcome. Rounds run one at a time, and a read that arrives while a round
//! is under way waits for the next one: every round a read is answered by began after the
//! read arrived, so its heartbeats confirm the leadership as of a moment after the read's
//! start, exactly as a round of the read's own would.
//!
//! A round lasts at most as long as the most patient of its reads (each says how long it
//! waits); a read that stops waiting changes nothing.

use crate::leadership::{confirmed, Unconfirmed};
use crate::Types;
use openraft::Raft;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

type Waiter = (Instant, oneshot::Sender<Result<(), Unconfirmed>>);

/// The handle reads queue on; the task stops when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Confirmer {
    queue: mpsc::UnboundedSender<Waiter>,
    rounds: Arc<AtomicU64>,
}

impl Confirmer {
    /// Starts the task confirming `raft`'s leadership (call within a Tokio runtime).
    pub fn start<C: Types>(raft: Raft<C>) -> Self {
        Self::with_rounds(move |deadline| {
            let raft = raft.clone();
            async move {
                confirmed(
                    tokio::time::timeout_at(deadline, raft.ensure_linearizable())
                        .await
                        .ok(),
                )
            }
        })
    }

    /// Starts the task with `round` as one confirmation round (given its deadline).
    fn with_rounds<R, F>(round: R) -> Self
    where
        R: Fn(Instant) -> F + Send + 'static,
        F: Future<Output = Result<(), Unconfirmed>> + Send + 'static,
    {
        let (queue, rx) = mpsc::unbounded_channel();
        let rounds = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(rx, rounds.clone(), round));
        Self { queue, rounds }
    }

    /// The confirmation rounds run so far.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Confirms the leadership with a quorum, in a round that begins after this call, and
    /// waits until everything committed is applied; gives up at `deadline`.
    pub async fn confirm(&self, deadline: Instant) -> Result<(), Unconfirmed> {
        let stopped = || Unconfirmed::Unavailable("Raft has stopped".into());
        let (tx, rx) = oneshot::channel();
        self.queue.send((deadline, tx)).map_err(|_| stopped())?;
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(stopped()),
            Err(_) => confirmed::<()>(None),
        }
    }
}

async fn run<R, F>(mut rx: mpsc::UnboundedReceiver<Waiter>, rounds: Arc<AtomicU64>, round: R)
where
    R: Fn(Instant) -> F,
    F: Future<Output = Result<(), Unconfirmed>>,
{
    while let Some(first) = rx.recv().await {
        // Until the latest of its reads' deadlines.
        let mut deadline = first.0;
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            deadline = deadline.max(more.0);
            waiting.push(more);
        }
        rounds.fetch_add(1, Ordering::Relaxed);
        let answer = round(deadline).await;
        for (_, reply) in waiting {
            let _ = reply.send(answer.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::sync::watch;

    #[tokio::test]
    async fn a_read_arriving_during_a_round_waits_for_the_next_and_shares_it() {
        // Rounds that wait until the gate opens.
        let (gate, opened) = watch::channel(false);
        let confirmer = Confirmer::with_rounds(move |_| {
            let mut opened = opened.clone();
            async move {
                let _ = opened.wait_for(|open| *open).await;
                Ok(())
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = tokio::spawn({
            let c = confirmer.clone();
            async move { c.confirm(deadline).await }
        });
        // The first round is under way (counted) before the next reads arrive.
        while confirmer.rounds() == 0 {
            tokio::task::yield_now().await;
        }
        let later: Vec<_> = (0..3)
            .map(|_| {
                let c = confirmer.clone();
                tokio::spawn(async move { c.confirm(deadline).await })
            })
            .collect();
        tokio::task::yield_now().await;
        gate.send_replace(true);
        first.await.unwrap().unwrap();
        for read in later {
            read.await.unwrap().unwrap();
        }
        assert_eq!(
            confirmer.rounds(),
            2,
            "the three later reads share one round of their own"
        );
    }

    #[tokio::test]
    async fn every_read_of_a_round_gets_its_refusal() {
        let confirmer =
            Confirmer::with_rounds(|_| async { Err(Unconfirmed::NotLeader { leader: Some(2) }) });
        let deadline = Instant::now() + Duration::from_secs(10);
        assert_eq!(
            confirmer.confirm(deadline).await,
            Err(Unconfirmed::NotLeader { leader: Some(2) })
        );
    }
}
