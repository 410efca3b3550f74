//! Completing half-done purchases: every purchase in the catalog's log ends with exactly one
//! order.
//!
//! A purchase is bought through the catalog before its order is proposed, so a leader that
//! dies (or a write that times out) in between leaves stock taken with no order, until the
//! client retries with the same request id, which a client that gave up or sent no key never
//! does. Every replica follows the catalog's event stream from its **checkpoint**
//! ([`crate::checkpoint`]: the catalog seq up to which every purchase is known to have an
//! order here, stored in the replica's own file; 0 for a new file) and remembers each
//! `Purchased` after it, with its seq. Every `[timeouts] completion_check` (and whenever more
//! than [`PRUNE_AT`] are remembered, so a long catalog log read at start-up stays bounded in
//! memory) it forgets, in one read transaction, those its state machine has recorded;
//! nothing is read per purchase on the buy path. The **leader** then proposes each one seen
//! more than `[order] complete_after` ago and still without an order, as the purchase the
//! catalog recorded (request id, toy, quantity), through the same proposer as the
//! front-end's purchases. The state machine is idempotent by request id, so a late client
//! retry, or a second leader completing the same purchase, still yields one order. After
//! each check the checkpoint (one below the oldest purchase still remembered, or the last
//! event read) is stored if it moved, so a restart reads only what came after it.
//!
//! The order is completed rather than the stock released: the catalog already sold the
//! units under that request id, and a client retrying the id must find its order.
//!
//! The stream is read through the shared follower ([`toystore_catalog_api::follow`]): when
//! it breaks, or goes silent (not even a heartbeat) for longer than [`Pacing::silence`], it
//! is reopened after the last event read (with a backoff), on the catalog replica believed
//! to lead or the next that answers; nothing is missed, since the catalog's log is
//! append-only and its replicas hold the same events at the same seqs. A lone catalog whose
//! log ends before that position had its data replaced: the completer warns, forgets what it
//! remembered and reads the new log from the start (its checkpoint follows at the next
//! check), rather than waiting forever for events past the end.

use crate::checkpoint::checkpoint;
use crate::types::Outcome;
use crate::Replica;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::follow::{follow, Followed, Following, OnReplaced, Start};
use toystore_catalog_api::CatalogClient;
use toystore_config::Backoff;
use toystore_events::Purchase;
use toystore_events::{CatalogEvent, ProductName, Quantity, RequestId, Seq};

/// Remembered purchases above which they are checked at once rather than at the next tick.
pub const PRUNE_AT: usize = 10_000;

/// How the completer paces itself (from the cluster file).
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// A purchase still without an order this long after it was seen is completed
    /// (`[order] complete_after`).
    pub after: Duration,
    /// How often the remembered purchases are checked (`[timeouts] completion_check`).
    pub check_every: Duration,
    /// The waits before reconnecting to the catalog's stream (`[timeouts] reconnect_*`).
    pub backoff: Backoff,
    /// How long the catalog's stream may stay silent (no event, no heartbeat) before it is
    /// dropped and reopened ([`toystore_config::CatalogConfig::stream_silence`]).
    pub silence: Duration,
}

/// A purchase without an order yet: its catalog seq, when this replica first saw it, the
/// toy, the units.
#[derive(Debug, Clone)]
struct Waiting {
    seq: Seq,
    seen: Instant,
    product: ProductName,
    quantity: Quantity,
}

/// Runs until `stop`, completing on the leader every purchase left without an order for
/// longer than `pacing.after`.
pub async fn run(
    replica: Arc<Replica>,
    catalog: CatalogClient,
    pacing: Pacing,
    stop: CancellationToken,
) {
    let Pacing {
        after,
        check_every,
        backoff,
        silence,
    } = pacing;
    let mut stored = match crate::checkpoint::load(replica.store().event_log()) {
        Ok(at) => at,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the completer's checkpoint; reading the catalog's log from the start");
            Seq::ZERO
        }
    };
    replica.set_completer_checkpoint(stored);
    tracing::info!(after = %stored, "completer following the catalog's events after its checkpoint");
    let mut waiting: BTreeMap<RequestId, Waiting> = BTreeMap::new();
    let mut last = stored;
    let mut tick = tokio::time::interval(check_every);
    let following = Following {
        silence,
        backoff,
        on_replaced: OnReplaced::ReadAgain,
    };
    let (mut heard, _following) = follow(catalog, Start::After(stored), following, stop.clone());
    loop {
        let followed = tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {
                complete_due(&replica, &mut waiting, after).await;
                stored = store_checkpoint(&replica, &waiting, last, stored).await;
                continue;
            }
            followed = heard.recv() => followed,
        };
        let Some(followed) = followed else { return };
        match followed {
            Followed::Event { seq, event } => {
                last = seq;
                if let CatalogEvent::Purchased {
                    request_id,
                    name,
                    quantity,
                } = event
                {
                    let waits = Waiting {
                        seq,
                        seen: Instant::now(),
                        product: name,
                        quantity,
                    };
                    waiting.insert(request_id, waits);
                    if waiting.len() > PRUNE_AT {
                        forget_recorded(&replica, &mut waiting);
                    }
                }
            }
            Followed::Replaced {
                heard,
                read,
                resume_at,
            } => {
                tracing::warn!(
                    catalog = %heard,
                    %read,
                    "the catalog's log ends before what this completer has read (its data was replaced?); reading it again from the start"
                );
                waiting.clear();
                last = resume_at;
            }
            Followed::Broken { reason, retry_in } => {
                tracing::debug!(%reason, after = %last, ?retry_in, "catalog stream broke; reconnecting");
            }
            Followed::Connected { .. } | Followed::Heartbeat { .. } => {}
        }
    }
}

/// Forgets the purchases the state machine has recorded (one read transaction).
fn forget_recorded(replica: &Replica, waiting: &mut BTreeMap<RequestId, Waiting>) {
    match replica.recorded_among(waiting.keys()) {
        Ok(recorded) => waiting.retain(|id, _| !recorded.contains(id)),
        Err(e) => tracing::warn!(error = %e, "cannot read which purchases have orders"),
    }
}

/// Stores the checkpoint for `waiting` and `last` (the last event read) if it moved from
/// `stored`; returns the checkpoint now stored (`stored` if the write failed, to be tried
/// again at the next check).
async fn store_checkpoint(
    replica: &Replica,
    waiting: &BTreeMap<RequestId, Waiting>,
    last: Seq,
    stored: Seq,
) -> Seq {
    let at = checkpoint(waiting.values().map(|w| w.seq), last);
    if at == stored {
        return stored;
    }
    match crate::checkpoint::save(replica.store().event_log(), at).await {
        Ok(()) => {
            replica.set_completer_checkpoint(at);
            at
        }
        Err(e) => {
            tracing::warn!(error = %e, checkpoint = %at, "cannot store the completer's checkpoint");
            stored
        }
    }
}

/// Forgets purchases recorded since; on the leader, completes those waiting longer than
/// `after`.
async fn complete_due(
    replica: &Replica,
    waiting: &mut BTreeMap<RequestId, Waiting>,
    after: Duration,
) {
    forget_recorded(replica, waiting);
    if !replica.is_leader() {
        return;
    }
    let due: Vec<(RequestId, Waiting)> = waiting
        .iter()
        .filter(|(_, w)| w.seen.elapsed() >= after)
        .map(|(id, w)| (id.clone(), w.clone()))
        .collect();
    for (request_id, w) in due {
        let purchase = Purchase {
            request_id: request_id.clone(),
            name: w.product.clone(),
            quantity: w.quantity,
        };
        match replica.propose(purchase).await {
            Ok(Outcome::Placed { number, .. }) => {
                tracing::info!(%request_id, %number, "completed a purchase that had no order");
                waiting.remove(&request_id);
            }
            Ok(Outcome::KeyReused { number }) => {
                // The catalog refuses a request id reused for another purchase, so its log
                // cannot hold one: this is a damaged log or a bug, said loudly, not retried.
                tracing::error!(
                    %request_id,
                    %number,
                    "a catalog purchase's request id names a different order; not completed"
                );
                waiting.remove(&request_id);
            }
            Err(e) => {
                tracing::debug!(%request_id, error = %e, "could not complete a purchase yet");
                return;
            }
        }
    }
}
