//! Forwarding orders to the leader, with transparent failover.
//!
//! A purchase carries a request id (the client's `Idempotency-Key` or a fresh UUID). The
//! front-end matches the replica's typed answer ([`CallError`]): a refusal that is final
//! (unknown toy, no stock, key reused, bad request) goes to the client; "not the leader"
//! follows the replica's leader hint (or looks for the leader again); an unreachable or
//! unavailable leader (no majority, catalog down) makes it look again after a pause. Every
//! retry uses the *same* request id (the catalog and the Raft state machine are idempotent
//! by it), until the failover timeout; only then does the client see
//! `503 order service unavailable`. One call that has no answer within the attempt timeout
//! (a paused or cut-off leader keeps the connection open) is abandoned like an unreachable
//! leader: the front-end looks again and retries elsewhere with the same request id.
//!
//! The outcome is typed: a final refusal is an [`OrderRefusal`], whose text is the message
//! the client reads; which HTTP status it becomes is decided in [`crate::server`] alone.
//!
//! The decisions of the failover loop are pure functions, unit-tested here: `classify`
//! (answer now, follow the hint, or look again), `in_time` (an attempt without an answer is
//! an unavailable leader), `hint_at_once`, and the deadline rule it shares with the leader
//! lookup (`crate::leader::room_to_wait`); the loop itself is tested against a fake set of
//! replicas (the private `Leaders` trait).

use crate::leader::{room_to_wait, Leader, LeaderTracker};
use std::time::Duration;
use tokio::time::Instant;
use toystore_events::Purchase;
use toystore_order_api::CallError;
use toystore_order_api::{OrderPlacedReply, OrderRecord};

/// Why an order could not be placed or read; final for this request. The `Display` text is
/// the message of the client's error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRefusal {
    /// A purchase of a toy the catalog does not have.
    #[error("product not found")]
    UnknownProduct,
    /// A read of an order that does not exist.
    #[error("order not found")]
    UnknownOrder,
    /// Too few units in stock.
    #[error("insufficient stock")]
    InsufficientStock,
    /// The replica found the request malformed (its message).
    #[error("{0}")]
    Invalid(String),
    /// The idempotency key was used for a different purchase.
    #[error("idempotency key reused for a different order")]
    KeyReused,
    /// No leader answered within the failover timeout.
    #[error("order service unavailable")]
    Unavailable,
}

/// The front-end's patience with the order service.
#[derive(Debug, Clone, Copy)]
pub struct Failover {
    /// How long a request may take in all, across attempts.
    pub total: Duration,
    /// How long one attempt at one leader may take.
    pub attempt: Duration,
    /// The pause before looking for the leader again after a failed attempt.
    pub pause: Duration,
}

/// What to do with a failed call to the leader.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Next {
    /// A final answer for the client.
    Answer(OrderRefusal),
    /// Use the hinted leader.
    Hint(u32),
    /// Look for the leader again after a pause.
    Reselect,
}

/// The failover rule for a failed call: a final refusal is answered (`not_found` is what a
/// 404 means: an unknown toy for a purchase, an unknown order for a read); "not the leader"
/// with a hint follows it; anything else (no hint, unavailable, unreachable, a reply not
/// understood) looks for the leader again.
fn classify(e: &CallError, not_found: &OrderRefusal) -> Next {
    match e {
        CallError::NotFound(_) => Next::Answer(not_found.clone()),
        CallError::InsufficientStock => Next::Answer(OrderRefusal::InsufficientStock),
        CallError::BadRequest(m) => Next::Answer(OrderRefusal::Invalid(m.clone())),
        CallError::KeyReused => Next::Answer(OrderRefusal::KeyReused),
        CallError::NotLeader { leader: Some(id) } => Next::Hint(*id),
        CallError::NotLeader { leader: None }
        | CallError::Unavailable(_)
        | CallError::Unreachable(_)
        | CallError::Failed(_) => Next::Reselect,
    }
}

/// Places an order through the leader, failing over within `timeout`.
pub async fn place(
    replicas: &LeaderTracker,
    order: &Purchase,
    failover: Failover,
) -> Result<OrderPlacedReply, OrderRefusal> {
    with_failover(
        replicas,
        failover,
        OrderRefusal::UnknownProduct,
        |leader| async move { leader.place_order(order).await },
    )
    .await
}

/// Reads an order through the leader, failing over within `timeout`.
pub async fn get(
    replicas: &LeaderTracker,
    number: toystore_events::OrderNumber,
    failover: Failover,
) -> Result<OrderRecord, OrderRefusal> {
    with_failover(
        replicas,
        failover,
        OrderRefusal::UnknownOrder,
        |leader| async move { leader.order(number).await },
    )
    .await
}

/// Where the failover loop finds the leader and reports hints: the [`LeaderTracker`] (a fake in
/// the unit tests).
trait Leaders {
    /// [`LeaderTracker::leader`].
    async fn leader(&self, failed: Option<(u32, u64)>) -> Option<Leader>;
    /// [`LeaderTracker::follow_hint`].
    fn follow_hint(&self, failed: (u32, u64), hint: u32);
}

impl Leaders for LeaderTracker {
    async fn leader(&self, failed: Option<(u32, u64)>) -> Option<Leader> {
        LeaderTracker::leader(self, failed).await
    }

    fn follow_hint(&self, failed: (u32, u64), hint: u32) {
        LeaderTracker::follow_hint(self, failed, hint);
    }
}

async fn with_failover<T, F, Fut>(
    replicas: &impl Leaders,
    failover: Failover,
    not_found: OrderRefusal,
    mut call: F,
) -> Result<T, OrderRefusal>
where
    F: FnMut(toystore_order_api::ReplicaClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let deadline = Instant::now() + failover.total;
    let mut failed: Option<(u32, u64)> = None;
    loop {
        if let Some(leader) = replicas.leader(failed).await {
            let attempt = tokio::time::timeout(failover.attempt, call(leader.client.clone()));
            match in_time(attempt.await.ok(), failover.attempt) {
                Ok(v) => return Ok(v),
                Err(e) => match classify(&e, &not_found) {
                    Next::Answer(answer) => return Err(answer),
                    Next::Hint(id) => {
                        tracing::info!(
                            replica = leader.client.id(),
                            hint = id,
                            "not the leader; following its hint"
                        );
                        replicas.follow_hint(leader.key(), id);
                        if hint_at_once(id, leader.client.id(), Instant::now(), deadline) {
                            continue;
                        }
                        failed = Some(leader.key());
                    }
                    Next::Reselect => {
                        tracing::warn!(leader = leader.client.id(), term = leader.term, error = %e, "forward failed; looking for the leader again");
                        failed = Some(leader.key());
                    }
                },
            }
        }
        if !room_to_wait(Instant::now(), failover.pause, deadline) {
            return Err(OrderRefusal::Unavailable);
        }
        tokio::time::sleep(failover.pause).await;
    }
}

/// One attempt's answer given the attempt timeout `attempt` (`None`: no answer in time,
/// which counts as an unavailable leader).
fn in_time<T>(answer: Option<Result<T, CallError>>, attempt: Duration) -> Result<T, CallError> {
    answer.unwrap_or_else(|| {
        Err(CallError::Unavailable(format!(
            "no answer within {attempt:?}"
        )))
    })
}

/// After replica `refused_by` named `hint` as the leader: try the hint at once (no pause)
/// if it names another replica and the deadline has not passed; otherwise treat
/// `refused_by` as failed (look again after a pause, or give up).
fn hint_at_once(hint: u32, refused_by: u32, now: Instant, deadline: Instant) -> bool {
    hint != refused_by && now < deadline
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_NOT_FOUND: [OrderRefusal; 2] =
        [OrderRefusal::UnknownProduct, OrderRefusal::UnknownOrder];

    #[test]
    fn not_found_answers_what_it_means_for_the_call() {
        for not_found in ALL_NOT_FOUND {
            assert_eq!(
                classify(&CallError::NotFound("no such toy".into()), &not_found),
                Next::Answer(not_found.clone())
            );
        }
    }

    #[test]
    fn final_refusals_are_answered_at_once() {
        for not_found in ALL_NOT_FOUND {
            assert_eq!(
                classify(&CallError::InsufficientStock, &not_found),
                Next::Answer(OrderRefusal::InsufficientStock)
            );
            assert_eq!(
                classify(&CallError::KeyReused, &not_found),
                Next::Answer(OrderRefusal::KeyReused)
            );
            assert_eq!(
                classify(
                    &CallError::BadRequest("quantity must be positive".into()),
                    &not_found
                ),
                Next::Answer(OrderRefusal::Invalid("quantity must be positive".into()))
            );
        }
    }

    #[test]
    fn a_hint_is_followed() {
        assert_eq!(
            classify(
                &CallError::NotLeader { leader: Some(2) },
                &OrderRefusal::UnknownProduct
            ),
            Next::Hint(2)
        );
        assert_eq!(
            classify(
                &CallError::NotLeader { leader: Some(3) },
                &OrderRefusal::UnknownOrder
            ),
            Next::Hint(3)
        );
    }

    #[test]
    fn everything_else_looks_for_the_leader_again() {
        for e in [
            CallError::NotLeader { leader: None },
            CallError::Unavailable("no majority".into()),
            CallError::Unreachable("connection refused".into()),
            CallError::Failed("500: boom".into()),
        ] {
            for not_found in ALL_NOT_FOUND {
                assert_eq!(classify(&e, &not_found), Next::Reselect, "{e:?}");
            }
        }
    }

    #[test]
    fn an_answer_in_time_is_kept() {
        assert_eq!(
            in_time(Some(Ok(7_u64)), Duration::from_millis(500)).ok(),
            Some(7)
        );
        let e = in_time::<u64>(Some(Err(CallError::KeyReused)), Duration::from_millis(500));
        assert!(matches!(e, Err(CallError::KeyReused)), "{e:?}");
    }

    #[test]
    fn no_answer_in_time_is_an_unavailable_leader() {
        let e = in_time::<u64>(None, Duration::from_millis(500));
        assert!(
            matches!(&e, Err(CallError::Unavailable(m)) if m == "no answer within 500ms"),
            "{e:?}"
        );
        let Err(e) = e else {
            panic!("no answer is an error");
        };
        assert_eq!(classify(&e, &OrderRefusal::UnknownProduct), Next::Reselect);
    }

    #[test]
    fn another_replica_s_hint_is_tried_at_once_before_the_deadline() {
        let now = Instant::now();
        let deadline = now + Duration::from_millis(100);
        assert!(hint_at_once(2, 3, now, deadline));
        assert!(hint_at_once(
            2,
            3,
            deadline - Duration::from_millis(1),
            deadline
        ));
    }

    #[test]
    fn a_hint_naming_the_refuser_or_past_the_deadline_pauses() {
        let now = Instant::now();
        let deadline = now + Duration::from_millis(100);
        assert!(!hint_at_once(3, 3, now, deadline), "hinted itself");
        assert!(!hint_at_once(2, 3, deadline, deadline), "at the deadline");
        assert!(!hint_at_once(
            2,
            3,
            deadline + Duration::from_millis(1),
            deadline
        ));
    }

    #[test]
    fn another_round_needs_more_than_a_pause_left() {
        let now = Instant::now();
        let pause = Duration::from_millis(50);
        assert!(room_to_wait(
            now,
            pause,
            now + pause + Duration::from_millis(1)
        ));
        assert!(room_to_wait(now, pause, now + Duration::from_secs(2)));
        assert!(
            !room_to_wait(now, pause, now + pause),
            "exactly a pause left"
        );
        assert!(!room_to_wait(
            now,
            pause,
            now + pause - Duration::from_millis(1)
        ));
        assert!(
            !room_to_wait(now + Duration::from_secs(1), pause, now),
            "past the deadline"
        );
    }

    /// The failover loop against a fake set of replicas: `leader()` answers the leader in
    /// use, `follow_hint` adopts the hinted replica (term 0), and each call's answer comes
    /// from a script.
    mod the_loop {
        use super::*;
        use std::collections::VecDeque;
        use std::sync::Mutex;
        use toystore_order_api::ReplicaClient;

        type Answer = Option<Result<u64, CallError>>;

        struct Fake {
            members: Vec<ReplicaClient>,
            current: Mutex<Option<Leader>>,
            looked: Mutex<Vec<Option<(u32, u64)>>>,
            hints: Mutex<Vec<((u32, u64), u32)>>,
        }

        impl Fake {
            fn led_by(id: u32, term: u64) -> Self {
                let fake = Self {
                    members: crate::leader::tests::members(),
                    current: Mutex::new(None),
                    looked: Mutex::new(Vec::new()),
                    hints: Mutex::new(Vec::new()),
                };
                fake.adopt(id, term);
                fake
            }

            fn leaderless() -> Self {
                let fake = Self::led_by(3, 1);
                *fake.current.lock().unwrap() = None;
                fake
            }

            fn adopt(&self, id: u32, term: u64) {
                let client = self.members.iter().find(|m| m.id() == id).cloned();
                *self.current.lock().unwrap() = client.map(|client| Leader { client, term });
            }

            fn looked(&self) -> Vec<Option<(u32, u64)>> {
                self.looked.lock().unwrap().clone()
            }

            fn hints(&self) -> Vec<((u32, u64), u32)> {
                self.hints.lock().unwrap().clone()
            }
        }

        impl Leaders for Fake {
            async fn leader(&self, failed: Option<(u32, u64)>) -> Option<Leader> {
                self.looked.lock().unwrap().push(failed);
                self.current.lock().unwrap().clone()
            }

            fn follow_hint(&self, failed: (u32, u64), hint: u32) {
                self.hints.lock().unwrap().push((failed, hint));
                self.adopt(hint, 0);
            }
        }

        fn patience(total_ms: u64, attempt_ms: u64) -> Failover {
            Failover {
                total: Duration::from_millis(total_ms),
                attempt: Duration::from_millis(attempt_ms),
                pause: Duration::from_millis(50),
            }
        }

        /// Runs the loop; answers each call from `script` (`None`: never answers) and
        /// returns its result and the replicas called, in order.
        async fn run(
            fake: &Fake,
            failover: Failover,
            not_found: OrderRefusal,
            script: Vec<Answer>,
        ) -> (Result<u64, OrderRefusal>, Vec<u32>) {
            let script = Mutex::new(VecDeque::from(script));
            let called = Mutex::new(Vec::new());
            let result = with_failover(fake, failover, not_found, |client: ReplicaClient| {
                called.lock().unwrap().push(client.id());
                let answer =
                    script.lock().unwrap().pop_front().unwrap_or_else(|| {
                        Some(Err(CallError::Unreachable("script ended".into())))
                    });
                async move {
                    match answer {
                        Some(answer) => answer,
                        None => std::future::pending().await,
                    }
                }
            })
            .await;
            let called = called.into_inner().unwrap();
            (result, called)
        }

        #[tokio::test]
        async fn an_answer_is_returned_from_the_first_attempt() {
            let fake = Fake::led_by(3, 4);
            let (result, called) = run(
                &fake,
                patience(2_000, 500),
                OrderRefusal::UnknownProduct,
                vec![Some(Ok(7))],
            )
            .await;
            assert_eq!(result, Ok(7));
            assert_eq!(called, vec![3]);
            assert_eq!(fake.looked(), vec![None]);
        }

        #[tokio::test]
        async fn a_final_refusal_is_answered_without_a_retry() {
            for (refusal, not_found, answer) in [
                (
                    CallError::KeyReused,
                    OrderRefusal::UnknownProduct,
                    OrderRefusal::KeyReused,
                ),
                (
                    CallError::NotFound("x".into()),
                    OrderRefusal::UnknownProduct,
                    OrderRefusal::UnknownProduct,
                ),
                (
                    CallError::NotFound("x".into()),
                    OrderRefusal::UnknownOrder,
                    OrderRefusal::UnknownOrder,
                ),
            ] {
                let fake = Fake::led_by(3, 4);
                let (result, called) = run(
                    &fake,
                    patience(2_000, 500),
                    not_found,
                    vec![Some(Err(refusal))],
                )
                .await;
                assert_eq!(result, Err(answer));
                assert_eq!(called, vec![3]);
                assert_eq!(fake.looked(), vec![None]);
                assert!(fake.hints().is_empty());
            }
        }

        #[tokio::test]
        async fn another_replica_s_hint_is_tried_next_as_is() {
            let fake = Fake::led_by(3, 4);
            let script = vec![
                Some(Err(CallError::NotLeader { leader: Some(2) })),
                Some(Ok(8)),
            ];
            let (result, called) = run(
                &fake,
                patience(2_000, 500),
                OrderRefusal::UnknownProduct,
                script,
            )
            .await;
            assert_eq!(result, Ok(8));
            assert_eq!(called, vec![3, 2]);
            assert_eq!(fake.hints(), vec![((3, 4), 2)]);
            assert_eq!(
                fake.looked(),
                vec![None, None],
                "the refuser is not reported as failed"
            );
        }

        #[tokio::test]
        async fn a_hint_naming_the_refuser_reports_it_failed() {
            let fake = Fake::led_by(3, 4);
            let script = vec![
                Some(Err(CallError::NotLeader { leader: Some(3) })),
                Some(Ok(9)),
            ];
            let (result, called) = run(
                &fake,
                patience(2_000, 500),
                OrderRefusal::UnknownProduct,
                script,
            )
            .await;
            assert_eq!(result, Ok(9));
            assert_eq!(called, vec![3, 3]);
            assert_eq!(fake.hints(), vec![((3, 4), 3)]);
            assert_eq!(fake.looked(), vec![None, Some((3, 4))]);
        }

        #[tokio::test]
        async fn a_failed_leader_is_reported_and_the_next_one_used() {
            for failure in [
                CallError::NotLeader { leader: None },
                CallError::Unavailable("no majority".into()),
                CallError::Unreachable("refused".into()),
                CallError::Failed("500: boom".into()),
            ] {
                let fake = Fake::led_by(3, 4);
                let script = vec![Some(Err(failure)), Some(Ok(10))];
                let (result, called) = run(
                    &fake,
                    patience(2_000, 500),
                    OrderRefusal::UnknownProduct,
                    script,
                )
                .await;
                assert_eq!(result, Ok(10));
                assert_eq!(called, vec![3, 3]);
                assert_eq!(fake.looked(), vec![None, Some((3, 4))]);
                assert!(fake.hints().is_empty());
            }
        }

        #[tokio::test]
        async fn an_attempt_without_an_answer_is_abandoned_like_a_failed_leader() {
            let fake = Fake::led_by(2, 6);
            let script = vec![None, Some(Ok(11))];
            let (result, called) = run(
                &fake,
                patience(5_000, 30),
                OrderRefusal::UnknownProduct,
                script,
            )
            .await;
            assert_eq!(result, Ok(11));
            assert_eq!(called, vec![2, 2]);
            assert_eq!(fake.looked(), vec![None, Some((2, 6))]);
        }

        #[tokio::test]
        async fn failures_until_the_deadline_are_unavailable() {
            let fake = Fake::led_by(3, 4);
            let started = Instant::now();
            let (result, called) = run(
                &fake,
                patience(200, 500),
                OrderRefusal::UnknownProduct,
                Vec::new(),
            )
            .await;
            assert_eq!(result, Err(OrderRefusal::Unavailable));
            // Attempts start at least a pause apart, and none starts within a pause of the
            // deadline: at most 0, 50, 100 and 150 ms.
            assert!((1..=4).contains(&called.len()), "{called:?}");
            assert!(
                started.elapsed() >= Duration::from_millis(150),
                "{:?}",
                started.elapsed()
            );
            assert_eq!(fake.looked().last(), Some(&Some((3, 4))));
        }

        #[tokio::test]
        async fn without_a_leader_nothing_is_called_and_the_service_is_unavailable() {
            let fake = Fake::leaderless();
            let (result, called) = run(
                &fake,
                patience(120, 500),
                OrderRefusal::UnknownOrder,
                vec![Some(Ok(1))],
            )
            .await;
            assert_eq!(result, Err(OrderRefusal::Unavailable));
            assert!(called.is_empty());
            assert!(fake.looked().iter().all(Option::is_none));
            assert!(!fake.looked().is_empty());
        }
    }
}
