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

use crate::leader::Replicas;
use std::time::Duration;
use tokio::time::Instant;
use toystore_order::api::{OrderPlacedReply, OrderRecord, PlaceOrder};
use toystore_order::CallError;

/// Pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

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
}

/// What to do with a failed call to the leader.
enum Next {
    /// A final answer for the client.
    Answer(OrderRefusal),
    /// Use the hinted leader.
    Hint(u32),
    /// Look for the leader again after a pause.
    Reselect,
}

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
    replicas: &Replicas,
    order: &PlaceOrder,
    failover: Failover,
) -> Result<OrderPlacedReply, OrderRefusal> {
    with_failover(replicas, failover, OrderRefusal::UnknownProduct, |leader| {
        let order = order.clone();
        async move { leader.place_order(&order).await }
    })
    .await
}

/// Reads an order through the leader, failing over within `timeout`.
pub async fn get(
    replicas: &Replicas,
    number: u64,
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

async fn with_failover<T, F, Fut>(
    replicas: &Replicas,
    failover: Failover,
    not_found: OrderRefusal,
    mut call: F,
) -> Result<T, OrderRefusal>
where
    F: FnMut(toystore_order::ReplicaClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    let deadline = Instant::now() + failover.total;
    let mut failed: Option<(u32, u64)> = None;
    loop {
        if let Some(leader) = replicas.leader(failed).await {
            let attempt = tokio::time::timeout(failover.attempt, call(leader.client.clone()));
            match attempt.await.unwrap_or_else(|_| {
                Err(CallError::Unavailable(format!(
                    "no answer within {:?}",
                    failover.attempt
                )))
            }) {
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
                        if id != leader.client.id() && Instant::now() < deadline {
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
        if Instant::now() + RETRY_PAUSE >= deadline {
            return Err(OrderRefusal::Unavailable);
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
