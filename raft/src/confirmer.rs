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
        let (queue, rx) = mpsc::unbounded_channel();
        let rounds = Arc::new(AtomicU64::new(0));
        tokio::spawn(run(raft, rx, rounds.clone()));
        Self { queue, rounds }
    }

    /// The confirmation rounds run so far.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Confirms the leadership with a quorum, in a round that begins after this call, and
    /// waits until everything committed is applied; gives up at `deadline`.
    pub async fn confirm(&self, deadline: Instant) -> Result<(), Unconfirmed> {
        let (tx, rx) = oneshot::channel();
        self.queue
            .send((deadline, tx))
            .map_err(|_| Unconfirmed::Unavailable("Raft has stopped".into()))?;
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(Unconfirmed::Unavailable("Raft has stopped".into())),
            Err(_) => Err(Unconfirmed::Unavailable(
                "leadership not confirmed in time".into(),
            )),
        }
    }
}

async fn run<C: Types>(
    raft: Raft<C>,
    mut rx: mpsc::UnboundedReceiver<Waiter>,
    rounds: Arc<AtomicU64>,
) {
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let deadline = round_deadline(waiting.iter().map(|(d, _)| *d));
        rounds.fetch_add(1, Ordering::Relaxed);
        let answer = confirmed(
            tokio::time::timeout_at(deadline, raft.ensure_linearizable())
                .await
                .ok(),
        );
        for (_, reply) in waiting {
            let _ = reply.send(answer.clone());
        }
    }
}

/// How long a round may last: until the latest of its reads' deadlines.
fn round_deadline(deadlines: impl Iterator<Item = Instant>) -> Instant {
    deadlines.max().unwrap_or_else(Instant::now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_round_lasts_as_long_as_its_most_patient_read() {
        let now = Instant::now();
        let (a, b) = (
            now + Duration::from_millis(5),
            now + Duration::from_millis(9),
        );
        assert_eq!(round_deadline([a, b, a].into_iter()), b);
        assert!(round_deadline(std::iter::empty()) >= now);
    }
}
