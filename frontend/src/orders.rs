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
//! The failover loop is the one every caller of a replicated service runs
//! (`toystore_raft_api::failover::call_leader`, also behind the catalog's `Group`); the
//! front-end's [`LeaderTracker`] is its source of leaders: the leader it tracks, a new
//! lookup after a failure (each lookup asks every replica: one failure is a round, and a
//! pause follows), a hint adopted if nobody has moved on. What is decided here are pure
//! functions, unit-tested here: `verdict` (a final refusal, a hint, or a failure),
//! `refusal` (what a final refusal tells the client) and `no_answer`; the loop through
//! this file's wrapper is tested against a fake set of replicas.

use crate::leader::{Leader, LeaderTracker};
use std::time::Duration;
use toystore_events::Purchase;
use toystore_order_api::CallError;
use toystore_order_api::{OrderPlacedReply, OrderRecord};
use toystore_raft_api::failover::{call_leader, Gave, Leaders, Member, Patience, Verdict};

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

/// The front-end's patience with the order service: the whole request across attempts
/// (`[frontend] failover_timeout`), one attempt at one leader, and the pause before looking
/// for the leader again after a failed attempt.
pub type Failover = Patience;

/// What a replica's error means to the failover loop: a refusal that is final (unknown toy
/// or order, no stock, key reused, bad request) is answered; "not the leader" follows its
/// hint; anything else (unavailable, unreachable, a reply not understood) is a failed
/// leader.
fn verdict(e: &CallError) -> Verdict {
    match e {
        CallError::NotFound(_)
        | CallError::InsufficientStock
        | CallError::BadRequest(_)
        | CallError::KeyReused => Verdict::Final,
        CallError::NotLeader { leader } => Verdict::NotLeader(*leader),
        CallError::Unavailable(_) | CallError::Unreachable(_) | CallError::Failed(_) => {
            Verdict::Failed
        }
    }
}

/// What a final refusal tells the client (`not_found` is what a 404 means: an unknown toy
/// for a purchase, an unknown order for a read); an error that is not final, had the loop
/// given one, is the service being unavailable.
fn refusal(e: &CallError, not_found: &OrderRefusal) -> OrderRefusal {
    match e {
        CallError::NotFound(_) => not_found.clone(),
        CallError::InsufficientStock => OrderRefusal::InsufficientStock,
        CallError::BadRequest(m) => OrderRefusal::Invalid(m.clone()),
        CallError::KeyReused => OrderRefusal::KeyReused,
        CallError::NotLeader { .. }
        | CallError::Unavailable(_)
        | CallError::Unreachable(_)
        | CallError::Failed(_) => OrderRefusal::Unavailable,
    }
}

/// The error of an attempt with no answer within `attempt`: an unavailable leader.
fn no_answer(attempt: Duration) -> CallError {
    CallError::Unavailable(format!("no answer within {attempt:?}"))
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

/// A leader in use, as the failover loop sees it: (id, term) names it.
impl Member for Leader {
    type Key = (u32, u64);

    fn key(&self) -> (u32, u64) {
        Leader::key(self)
    }

    fn id(&self) -> u32 {
        self.client.id()
    }
}

/// The tracker as the failover loop's source of leaders.
impl Leaders for LeaderTracker {
    type Member = Leader;

    async fn leader(&self, failed: Option<(u32, u64)>) -> Option<Leader> {
        LeaderTracker::leader(self, failed).await
    }

    fn follow_hint(&self, refused: (u32, u64), hint: u32) -> bool {
        LeaderTracker::follow_hint(self, refused, hint)
    }

    fn answered(&self, _: &Leader) {}

    fn round(&self) -> usize {
        1
    }

    fn size(&self) -> usize {
        self.members().len()
    }
}

/// The failover loop with the front-end's rules: a final refusal becomes the client's
/// answer, giving up is `Unavailable`.
async fn with_failover<L, T, F, Fut>(
    replicas: &L,
    failover: Failover,
    not_found: OrderRefusal,
    mut call: F,
) -> Result<T, OrderRefusal>
where
    L: Leaders<Member = Leader>,
    F: FnMut(toystore_order_api::ReplicaClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    call_leader(replicas, failover, verdict, no_answer, |leader: Leader| {
        call(leader.client)
    })
    .await
    .map_err(|gave| match gave {
        Gave::Refused(e) => refusal(&e, &not_found),
        Gave::Unavailable(_) => OrderRefusal::Unavailable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::Instant;

    const ALL_NOT_FOUND: [OrderRefusal; 2] =
        [OrderRefusal::UnknownProduct, OrderRefusal::UnknownOrder];

    #[test]
    fn not_found_answers_what_it_means_for_the_call() {
        let e = CallError::NotFound("no such toy".into());
        assert_eq!(verdict(&e), Verdict::Final);
        for not_found in ALL_NOT_FOUND {
            assert_eq!(refusal(&e, &not_found), not_found);
        }
    }

    #[test]
    fn final_refusals_are_answered_at_once() {
        for (e, answer) in [
            (
                CallError::InsufficientStock,
                OrderRefusal::InsufficientStock,
            ),
            (CallError::KeyReused, OrderRefusal::KeyReused),
            (
                CallError::BadRequest("quantity must be positive".into()),
                OrderRefusal::Invalid("quantity must be positive".into()),
            ),
        ] {
            assert_eq!(verdict(&e), Verdict::Final, "{e:?}");
            for not_found in ALL_NOT_FOUND {
                assert_eq!(refusal(&e, &not_found), answer);
            }
        }
    }

    #[test]
    fn a_hint_is_followed() {
        assert_eq!(
            verdict(&CallError::NotLeader { leader: Some(2) }),
            Verdict::NotLeader(Some(2))
        );
        assert_eq!(
            verdict(&CallError::NotLeader { leader: None }),
            Verdict::NotLeader(None)
        );
    }

    #[test]
    fn everything_else_is_a_failed_leader() {
        for e in [
            CallError::Unavailable("no majority".into()),
            CallError::Unreachable("connection refused".into()),
            CallError::Failed("500: boom".into()),
            no_answer(Duration::from_millis(500)),
        ] {
            assert_eq!(verdict(&e), Verdict::Failed, "{e:?}");
            for not_found in ALL_NOT_FOUND {
                assert_eq!(refusal(&e, &not_found), OrderRefusal::Unavailable);
            }
        }
    }

    #[test]
    fn no_answer_in_time_names_the_attempt_timeout() {
        let e = no_answer(Duration::from_millis(500));
        assert!(
            matches!(&e, CallError::Unavailable(m) if m == "no answer within 500ms"),
            "{e:?}"
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
            type Member = Leader;

            async fn leader(&self, failed: Option<(u32, u64)>) -> Option<Leader> {
                self.looked.lock().unwrap().push(failed);
                self.current.lock().unwrap().clone()
            }

            /// As the tracker: adopts the hint, which names another replica or not.
            fn follow_hint(&self, failed: (u32, u64), hint: u32) -> bool {
                self.hints.lock().unwrap().push((failed, hint));
                self.adopt(hint, 0);
                hint != failed.0
            }

            fn answered(&self, _: &Leader) {}

            fn round(&self) -> usize {
                1
            }

            fn size(&self) -> usize {
                self.members.len()
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
