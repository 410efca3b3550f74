//! [`Relay`]: the catalog's stock changes, relayed to browsers as Server-Sent Events at
//! `GET /events` (public, read-only).
//!
//! However many browsers listen, the front-end holds one subscription to the catalog's event
//! stream (the one that keeps its cache fresh, [`crate::invalidation`]); each change is
//! published here after the cache has dropped the product, so a browser that re-reads the
//! product on a `stock` event gets the new value. What is relayed is the toy's name, what
//! happened (`purchased`, `restocked`, `added`) and the catalog's sequence number — never a
//! purchase's request id, which is its buyer's idempotency key.
//!
//! A `resync` event tells a browser to re-read everything: sent when the upstream stream
//! was re-established (changes may have happened while it was down) and when a slow browser
//! fell so far behind that changes were dropped for it.

use futures_util::StreamExt;
use serde::Serialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use toystore_events::{CatalogEvent, Seq};
use warp::sse::Event;
use warp::{Filter, Rejection, Reply};

/// Changes a browser may fall behind by before it is told to resync.
const BACKLOG: usize = 1024;

/// Changes kept for the cluster page's "recent events".
pub const RECENT: usize = 20;

/// One change of a toy's stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The catalog's sequence number of the change.
    pub seq: u64,
    /// The toy.
    pub name: String,
    /// `purchased`, `restocked` or `added`.
    pub kind: &'static str,
}

/// What browsers are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A toy's stock changed.
    Stock(Change),
    /// Re-read everything (after the upstream stream was re-established).
    Resync,
}

/// The fan-out of stock changes to every listening browser.
#[derive(Debug)]
pub struct Relay {
    tx: broadcast::Sender<Message>,
    recent: std::sync::Mutex<std::collections::VecDeque<Change>>,
}

impl Default for Relay {
    fn default() -> Self {
        Self::new()
    }
}

impl Relay {
    /// A relay nobody listens to yet.
    pub fn new() -> Self {
        Self {
            tx: broadcast::channel(BACKLOG).0,
            recent: std::sync::Mutex::new(std::collections::VecDeque::with_capacity(RECENT)),
        }
    }

    /// Publishes the catalog's event `seq` (a no-op when nobody listens).
    pub fn publish(&self, seq: Seq, event: &CatalogEvent) {
        let kind = match event {
            CatalogEvent::ProductAdded { .. } => "added",
            CatalogEvent::Purchased { .. } => "purchased",
            CatalogEvent::Restocked { .. } => "restocked",
        };
        let change = Change {
            seq: seq.0,
            name: event.product().to_string(),
            kind,
        };
        {
            let mut recent = self
                .recent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(change.clone());
        }
        let _ = self.tx.send(Message::Stock(change));
    }

    /// The last [`RECENT`] changes, newest last.
    pub fn recent(&self) -> Vec<Change> {
        self.recent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Tells every browser to re-read everything.
    pub fn resync(&self) {
        let _ = self.tx.send(Message::Resync);
    }

    /// Browsers listening now.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }

    /// A new listener's messages, as SSE events, until `stop`.
    fn events(
        &self,
        stop: CancellationToken,
    ) -> impl futures_util::Stream<Item = Result<Event, Infallible>> + Send + 'static {
        let rx = self.tx.subscribe();
        futures_util::stream::unfold(rx, |mut rx| async move {
            let message = match rx.recv().await {
                Ok(m) => m,
                // Changes were dropped for this slow listener: it must re-read.
                Err(broadcast::error::RecvError::Lagged(_)) => Message::Resync,
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((Ok(sse_event(&message)), rx))
        })
        .take_until(async move { stop.cancelled().await })
    }
}

fn sse_event(message: &Message) -> Event {
    match message {
        Message::Stock(change) => Event::default()
            .event("stock")
            .id(change.seq.to_string())
            .data(serde_json::to_string(change).unwrap_or_default()),
        Message::Resync => Event::default().event("resync").data("{}"),
    }
}

/// `GET /events`: the relay as a Server-Sent Events stream, ended when `stop` is cancelled
/// (the server shutting down). An idle stream sends a comment every `keep_alive`
/// (`[timeouts] keep_alive`), so proxies keep it open.
pub fn route(
    relay: Arc<Relay>,
    keep_alive: Duration,
    stop: CancellationToken,
) -> impl Filter<Extract = (warp::reply::Response,), Error = Rejection> + Clone {
    warp::path!("events").and(warp::get()).map(move || {
        let events = relay.events(stop.clone());
        warp::sse::reply(warp::sse::keep_alive().interval(keep_alive).stream(events))
            .into_response()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn listeners_get_changes_without_request_ids_and_lagging_ones_resync() {
        let relay = Relay::new();
        let stop = CancellationToken::new();
        let mut events = Box::pin(relay.events(stop.clone()));
        assert_eq!(relay.listeners(), 1);
        relay.publish(
            Seq(7),
            &CatalogEvent::Purchased {
                request_id: "secret-key".try_into().unwrap(),
                name: "Tux".try_into().unwrap(),
                quantity: 2u32.try_into().unwrap(),
            },
        );
        let first = format!("{:?}", events.next().await.unwrap().unwrap());
        assert!(first.contains("stock") && first.contains("Tux"), "{first}");
        assert!(
            first.contains("purchased") && !first.contains("secret-key"),
            "{first}"
        );

        // More changes than the backlog: the listener is told to resync.
        for i in 0..(BACKLOG as u64 + 10) {
            relay.publish(
                Seq(i),
                &CatalogEvent::Restocked {
                    name: "Tux".try_into().unwrap(),
                    added: 1,
                },
            );
        }
        let next = format!("{:?}", events.next().await.unwrap().unwrap());
        assert!(next.contains("resync"), "{next}");
        let recent = relay.recent();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(
            recent.last().unwrap().seq,
            BACKLOG as u64 + 9,
            "newest last"
        );

        stop.cancel();
        assert!(events.next().await.is_none(), "the stream ends on stop");
    }
}
