//! Forwarding orders to the leader, with transparent failover.
//!
//! A purchase carries a request id (the client's `Idempotency-Key` or a fresh UUID). If the
//! leader cannot be reached, answers 421 (not the leader) or fails, the front-end selects
//! a leader again and retries the *same* request id there, until the failover timeout; the
//! replicas and the catalog are idempotent by request id, so a retry never buys twice. Only
//! when no leader can take the order in time does the client see
//! `503 order service unavailable`.

use crate::leader::Replicas;
use std::time::Duration;
use tokio::time::Instant;
use toystore_net::client::ClientError;
use toystore_net::ApiError;
use toystore_order::api::{OrderPlacedReply, OrderRecord, PlaceOrder};
use warp::http::StatusCode;

/// Pause between attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

fn unavailable() -> ApiError {
    ApiError::unavailable("order service unavailable")
}

/// What to do with a failed call to the leader.
enum Next {
    /// A final answer for the client.
    Answer(ApiError),
    /// Try again on a newly selected leader.
    Reselect,
    /// Try the same leader again after a pause (its catalog is unavailable, say).
    Retry,
}

fn classify(e: &ClientError, not_found: &'static str) -> Next {
    match e.status() {
        Some(404) => Next::Answer(ApiError::not_found(not_found)),
        Some(409) => Next::Answer(ApiError::new(StatusCode::CONFLICT, "insufficient stock")),
        Some(400) => Next::Answer(ApiError::bad_request(match e {
            ClientError::Status { message, .. } => message.clone(),
            _ => "bad request".into(),
        })),
        Some(422) => Next::Answer(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency key reused for a different order",
        )),
        Some(503) => Next::Retry,
        _ => Next::Reselect,
    }
}

/// Places an order through the leader, failing over within `timeout`.
pub async fn place(
    replicas: &Replicas,
    order: &PlaceOrder,
    timeout: Duration,
) -> Result<OrderPlacedReply, ApiError> {
    with_failover(replicas, timeout, "product not found", |leader| {
        let order = order.clone();
        async move { leader.place_order(&order).await }
    })
    .await
}

/// Reads an order through the leader, failing over within `timeout`.
pub async fn get(
    replicas: &Replicas,
    number: u64,
    timeout: Duration,
) -> Result<OrderRecord, ApiError> {
    with_failover(replicas, timeout, "order not found", |leader| async move {
        leader.order(number).await
    })
    .await
}

async fn with_failover<T, F, Fut>(
    replicas: &Replicas,
    timeout: Duration,
    not_found: &'static str,
    mut call: F,
) -> Result<T, ApiError>
where
    F: FnMut(toystore_order::ReplicaClient) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let deadline = Instant::now() + timeout;
    let mut failed: Option<u64> = None;
    loop {
        if let Some(leader) = replicas.leader(failed).await {
            match call(leader.client.clone()).await {
                Ok(v) => return Ok(v),
                Err(e) => match classify(&e, not_found) {
                    Next::Answer(answer) => return Err(answer),
                    Next::Retry => {
                        tracing::debug!(leader = leader.client.id(), error = %e, "leader busy; retrying");
                    }
                    Next::Reselect => {
                        tracing::warn!(leader = leader.client.id(), epoch = leader.epoch, error = %e, "forward failed; reselecting");
                        failed = Some(leader.epoch);
                    }
                },
            }
        }
        if Instant::now() + RETRY_PAUSE >= deadline {
            return Err(unavailable());
        }
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}
