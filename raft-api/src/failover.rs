//! [`call_leader`]: how every caller of a replicated service reaches its leader, following
//! hints and failing over: the catalog's [`crate::Group`] (the order leader's and the
//! front-end's calls to the catalog) and the front-end's order client (its leader tracker)
//! both run this one loop. What differs is only where the next replica comes from, the
//! caller's [`Leaders`]: a group of fixed members tries them in turn; the front-end's
//! tracker reads the replicas' health (and, under the handout's policy, asks for an
//! election).
//!
//! One call, until `total` has passed:
//! - ask the [`Leaders`] for the replica to try (after a failure: for another one, or for
//!   the same if it has no better idea) and send it the call, for at most `attempt`;
//! - an answer, or a refusal the caller calls final ([`Verdict::Final`]), is the leader's:
//!   [`Leaders::answered`] remembers it, and it is returned;
//! - "not the leader" naming a replica the [`Leaders`] takes up ([`Leaders::follow_hint`])
//!   sends the call there at once, at most [`Leaders::size`] times in a row (two replicas
//!   naming each other cannot spin);
//! - anything else (no hint or an unusable one, "unavailable now", no answer at all) is a
//!   failure of that replica; after [`Leaders::round`] failures (or when no replica is
//!   known) the call pauses `pause` before it asks again, and gives up when a pause would
//!   not leave room for another attempt.
//!
//! Retrying is safe only for idempotent calls: every write of the store's services is (a
//! purchase is idempotent by its request id). The loop is tested here against a scripted
//! set of replicas; each caller tests its own [`Leaders`].

use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use toystore_config::ReplicaId;

/// How long a call keeps looking for the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    /// The whole call, across attempts.
    pub total: Duration,
    /// One attempt at one replica.
    pub attempt: Duration,
    /// The pause after a round of failures.
    pub pause: Duration,
}

/// What an attempt's error means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The leader's refusal: the call's answer.
    Final,
    /// Not the leader; the replica it named, if any.
    NotLeader(Option<ReplicaId>),
    /// No answer, or not one from a leader able to serve (unreachable, unavailable now).
    Failed,
}

/// Why a call has no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gave<E> {
    /// The leader refused, finally.
    Refused(E),
    /// No leader answered in time; the last failure, if any replica was tried.
    Unavailable(Option<E>),
}

/// A replica a call may be sent to.
pub trait Member: Clone {
    /// What identifies it for as long as it may lead (a failure report names it).
    type Key: Copy + Eq;

    /// Its key.
    fn key(&self) -> Self::Key;

    /// Its replica id.
    fn id(&self) -> ReplicaId;
}

/// The key of a [`Leaders`]' members.
pub type KeyOf<L> = <<L as Leaders>::Member as Member>::Key;

/// Where a call finds the replica to try.
pub trait Leaders {
    /// What a call is sent to.
    type Member: Member;

    /// The replica to try: the believed leader, or (after `failed` failed, if nobody has
    /// moved on from it since) another; `None` if none is known now.
    fn leader(
        &self,
        failed: Option<KeyOf<Self>>,
    ) -> impl Future<Output = Option<Self::Member>> + Send;

    /// `refused` named `hint` as the leader: whether a replica to try at once was taken up.
    fn follow_hint(&self, refused: KeyOf<Self>, hint: ReplicaId) -> bool;

    /// `member` answered: it leads.
    fn answered(&self, member: &Self::Member);

    /// How many failures make a round, after which a call pauses.
    fn round(&self) -> usize;

    /// How many replicas there are (the most hints a call follows in a row).
    fn size(&self) -> usize;
}

/// Whether waiting `wait` from `now` still leaves time for another try before `deadline`.
pub fn room_to_wait(now: Instant, wait: Duration, deadline: Instant) -> bool {
    now + wait < deadline
}

/// Sends `call` to the leader `leaders` finds, following hints and failing over within
/// `patience` (see the module doc). `verdict` says what an error means; `no_answer` makes
/// the error of an attempt that had no answer within `patience.attempt`.
pub async fn call_leader<L, T, E, Fut>(
    leaders: &L,
    patience: Patience,
    verdict: impl Fn(&E) -> Verdict,
    no_answer: impl Fn(Duration) -> E,
    mut call: impl FnMut(L::Member) -> Fut,
) -> Result<T, Gave<E>>
where
    L: Leaders,
    E: std::fmt::Debug,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + patience.total;
    let mut failed: Option<KeyOf<L>> = None;
    let (mut failures, mut hints) = (0, 0);
    let mut last: Option<E> = None;
    loop {
        match leaders.leader(failed).await {
            Some(member) => {
                let answer = tokio::time::timeout(patience.attempt, call(member.clone()))
                    .await
                    .unwrap_or_else(|_| Err(no_answer(patience.attempt)));
                let e = match answer {
                    Ok(v) => {
                        leaders.answered(&member);
                        return Ok(v);
                    }
                    Err(e) => e,
                };
                let key = member.key();
                match verdict(&e) {
                    Verdict::Final => {
                        leaders.answered(&member);
                        return Err(Gave::Refused(e));
                    }
                    Verdict::NotLeader(Some(hint))
                        if hints < leaders.size()
                            && Instant::now() < deadline
                            && leaders.follow_hint(key, hint) =>
                    {
                        tracing::info!(
                            replica = member.id(),
                            hint,
                            "not the leader; following its hint"
                        );
                        hints += 1;
                        // The hint is newer than any failure seen before it.
                        failed = None;
                        last = Some(e);
                        continue;
                    }
                    Verdict::NotLeader(_) | Verdict::Failed => {
                        tracing::info!(
                            replica = member.id(),
                            error = ?e,
                            "no answer from a leader; looking again"
                        );
                        failed = Some(key);
                        failures += 1;
                        hints = 0;
                        last = Some(e);
                    }
                }
            }
            None => failures = leaders.round(),
        }
        if failures >= leaders.round() {
            if !room_to_wait(Instant::now(), patience.pause, deadline) {
                return Err(Gave::Unavailable(last));
            }
            tokio::time::sleep(patience.pause).await;
            failures = 0;
        } else if Instant::now() >= deadline {
            return Err(Gave::Unavailable(last));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::Mutex;

    #[test]
    fn room_to_wait_needs_more_than_the_wait_left() {
        let now = Instant::now();
        let wait = Duration::from_millis(50);
        assert!(room_to_wait(
            now,
            wait,
            now + wait + Duration::from_millis(1)
        ));
        assert!(
            !room_to_wait(now, wait, now + wait),
            "exactly the wait left"
        );
        assert!(
            !room_to_wait(now + Duration::from_secs(1), wait, now),
            "past"
        );
    }

    /// Replicas 1..=n tried in turn (a failure moves on; a member's hint is taken up),
    /// each answering from a script: `Ok(v)` or an error with its verdict.
    struct Turns {
        n: usize,
        at: Mutex<usize>,
        round: usize,
    }

    impl Member for ReplicaId {
        type Key = ReplicaId;
        fn key(&self) -> ReplicaId {
            *self
        }
        fn id(&self) -> ReplicaId {
            *self
        }
    }

    impl Leaders for Turns {
        type Member = ReplicaId;
        async fn leader(&self, failed: Option<ReplicaId>) -> Option<ReplicaId> {
            let mut at = self.at.lock().unwrap_or_else(|e| e.into_inner());
            if failed == Some(*at as ReplicaId) {
                *at = *at % self.n + 1;
            }
            Some(*at as ReplicaId)
        }
        fn follow_hint(&self, refused: ReplicaId, hint: ReplicaId) -> bool {
            let usable = hint != refused && (1..=self.n as ReplicaId).contains(&hint);
            if usable {
                *self.at.lock().unwrap_or_else(|e| e.into_inner()) = hint as usize;
            }
            usable
        }
        fn answered(&self, member: &ReplicaId) {
            *self.at.lock().unwrap_or_else(|e| e.into_inner()) = *member as usize;
        }
        fn round(&self) -> usize {
            self.round
        }
        fn size(&self) -> usize {
            self.n
        }
    }

    type Scripted = Result<u32, Verdict>;

    /// Runs one call against `leaders`; returns its result, the replicas called, and when
    /// each was called (ms since the start).
    async fn run(
        leaders: &Turns,
        total_ms: u64,
        script: Vec<Scripted>,
    ) -> (Result<u32, Gave<Verdict>>, Vec<ReplicaId>, Vec<u128>) {
        let script = Mutex::new(VecDeque::from(script));
        let called = Mutex::new(Vec::new());
        let started = Instant::now();
        let patience = Patience {
            total: Duration::from_millis(total_ms),
            attempt: Duration::from_millis(500),
            pause: Duration::from_millis(100),
        };
        let result = call_leader(
            leaders,
            patience,
            |v: &Verdict| *v,
            |_| Verdict::Failed,
            |member| {
                let ms = started.elapsed().as_millis();
                called
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((member, ms));
                let next = script.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                async move { next.unwrap_or(Err(Verdict::Failed)) }
            },
        )
        .await;
        let called = called.into_inner().unwrap_or_else(|e| e.into_inner());
        (
            result,
            called.iter().map(|(m, _)| *m).collect(),
            called.iter().map(|(_, ms)| *ms).collect(),
        )
    }

    fn group(n: usize) -> Turns {
        Turns {
            n,
            at: Mutex::new(1),
            round: n,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn failures_move_on_at_once_and_pause_after_a_round() {
        let leaders = group(3);
        let script = vec![
            Err(Verdict::Failed),
            Err(Verdict::Failed),
            Err(Verdict::Failed),
            Ok(7),
        ];
        let (result, called, at) = run(&leaders, 5_000, script).await;
        assert_eq!(result, Ok(7));
        assert_eq!(called, vec![1, 2, 3, 1]);
        assert_eq!(at, vec![0, 0, 0, 100], "one pause, after the round");
        assert_eq!(*leaders.at.lock().unwrap_or_else(|e| e.into_inner()), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hint_is_followed_at_once_and_its_answer_remembered() {
        let leaders = group(3);
        let script = vec![Err(Verdict::NotLeader(Some(3))), Ok(8)];
        let (result, called, at) = run(&leaders, 5_000, script).await;
        assert_eq!(result, Ok(8));
        assert_eq!(called, vec![1, 3]);
        assert_eq!(at, vec![0, 0]);
        assert_eq!(*leaders.at.lock().unwrap_or_else(|e| e.into_inner()), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unusable_hint_is_a_failure() {
        let leaders = group(3);
        let script = vec![
            Err(Verdict::NotLeader(Some(1))),
            Err(Verdict::NotLeader(Some(9))),
            Err(Verdict::NotLeader(None)),
            Ok(9),
        ];
        let (result, called, at) = run(&leaders, 5_000, script).await;
        assert_eq!(result, Ok(9));
        assert_eq!(
            called,
            vec![1, 2, 3, 1],
            "itself, a stranger, none: next in turn"
        );
        assert_eq!(at, vec![0, 0, 0, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn two_replicas_naming_each_other_cannot_spin() {
        let leaders = group(2);
        let naming = |other| Err(Verdict::NotLeader(Some(other)));
        // Two hints in a row are followed at once; the third is a failure of the replica
        // that gave it; two failures make a round, and a pause follows.
        let script = vec![
            naming(2),
            naming(1),
            naming(2),
            naming(1),
            naming(2),
            naming(1),
            Ok(6),
        ];
        let (result, called, at) = run(&leaders, 5_000, script).await;
        assert_eq!(result, Ok(6));
        assert_eq!(called, vec![1, 2, 1, 2, 1, 2, 1]);
        assert_eq!(at, vec![0, 0, 0, 0, 0, 0, 100]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_refusal_is_answered_and_its_replica_remembered() {
        let leaders = group(3);
        let script = vec![Err(Verdict::Failed), Err(Verdict::Final)];
        let (result, called, _) = run(&leaders, 5_000, script).await;
        assert_eq!(result, Err(Gave::Refused(Verdict::Final)));
        assert_eq!(called, vec![1, 2]);
        assert_eq!(*leaders.at.lock().unwrap_or_else(|e| e.into_inner()), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_until_no_pause_fits_give_up_with_the_last() {
        let leaders = Turns {
            n: 3,
            at: Mutex::new(1),
            round: 1,
        };
        let (result, called, at) = run(&leaders, 250, Vec::new()).await;
        assert_eq!(result, Err(Gave::Unavailable(Some(Verdict::Failed))));
        assert_eq!(called, vec![1, 2, 3], "a pause after each failure");
        assert_eq!(at, vec![0, 100, 200]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_without_an_answer_fails_at_its_timeout() {
        let leaders = group(2);
        let started = Instant::now();
        let result: Result<u32, Gave<&str>> = call_leader(
            &leaders,
            Patience {
                total: Duration::from_millis(700),
                attempt: Duration::from_millis(300),
                pause: Duration::from_millis(100),
            },
            |_| Verdict::Failed,
            |_| "no answer",
            |_| std::future::pending(),
        )
        .await;
        assert_eq!(result, Err(Gave::Unavailable(Some("no answer"))));
        // 1 and 2 time out (600 ms), a pause would leave no room: given up at 600 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(600));
    }
}
