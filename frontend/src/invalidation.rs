//! Following the catalog's event stream to invalidate the product cache and to relay stock
//! changes to browsers ([`crate::relay`]): one upstream subscription for both.
//!
//! The subscriber starts after the catalog's current sequence number (the cache starts
//! empty, so older events are irrelevant), evicts the product of every event it receives,
//! and resumes the cache once a heartbeat says it has caught up. When the stream breaks or
//! goes silent for longer than the heartbeat timeout, it suspends (and so clears) the cache,
//! reconnects with exponential backoff, and resumes after the last event it applied, so no
//! invalidation is ever missed. A catalog whose log is behind the subscriber (its data was
//! reset) also suspends the cache and restarts from the catalog's position. Each event is
//! relayed after the cache dropped its product; browsers are told to resync whenever the
//! stream is (re)established. With caching off it only relays.

use crate::cache::ProductCache;
use crate::relay::Relay;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::CatalogClient;
use toystore_config::Backoff;
use toystore_events::{FrameError, Seq, StreamItem};

/// Runs until `stop`: keeps `cache` (if any) consistent with the catalog and feeds `relay`.
pub async fn follow_catalog(
    catalog: CatalogClient,
    cache: Option<Arc<ProductCache>>,
    relay: Arc<Relay>,
    silence_timeout: Duration,
    mut backoff: Backoff,
    stop: CancellationToken,
) {
    let cache = cache.as_deref();
    let mut last: Option<Seq> = None;
    while !stop.is_cancelled() {
        let start = match last {
            Some(seq) => Ok(seq),
            None => catalog.health().await.map(|h| {
                // Events up to here will not be delivered: refuse values older than them.
                if let Some(cache) = cache {
                    cache.set_floor(h.last_seq);
                }
                h.last_seq
            }),
        };
        let outcome = match start {
            Ok(after) => {
                last = Some(after);
                let sinks = Sinks {
                    cache,
                    relay: &relay,
                };
                follow_once(&catalog, sinks, after, silence_timeout, &stop, &mut last).await
            }
            Err(e) => Err(e.into()),
        };
        if let Some(cache) = cache {
            cache.suspend();
        }
        if let Ok(true) = outcome {
            backoff.reset();
        }
        let wait = backoff.next_wait();
        match outcome {
            Ok(true) => {}
            Ok(false) => return,
            Err(reason) => {
                tracing::warn!(%reason, retry_in = ?wait, "catalog event stream down, cache suspended");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Why the event stream stopped serving.
#[derive(Debug, thiserror::Error)]
enum Broken {
    /// The catalog could not be asked or subscribed to.
    #[error(transparent)]
    Catalog(#[from] toystore_http::client::ClientError),
    /// A frame of the stream did not decode, the connection failed mid-stream, or nothing,
    /// not even a heartbeat, arrived for longer than the silence timeout.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The catalog closed the stream.
    #[error("stream ended")]
    Ended,
}

/// Where the events go.
#[derive(Clone, Copy)]
struct Sinks<'a> {
    cache: Option<&'a ProductCache>,
    relay: &'a Relay,
}

/// Follows one connection. `Ok(true)`: it ended and should be reopened at once after a
/// short pause; `Ok(false)`: stopped; `Err`: broken.
async fn follow_once(
    catalog: &CatalogClient,
    Sinks { cache, relay }: Sinks<'_>,
    after: Seq,
    silence_timeout: Duration,
    stop: &CancellationToken,
    last: &mut Option<Seq>,
) -> Result<bool, Broken> {
    let stream = catalog.events(after, silence_timeout).await?;
    let mut stream = std::pin::pin!(stream);
    tracing::info!(after = %after, "following catalog events");
    // Whatever changed while the stream was down, browsers re-read it.
    relay.resync();
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = stop.cancelled() => return Ok(false),
        };
        match item {
            None => return Err(Broken::Ended),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(StreamItem::Event { seq, event, .. })) => {
                if let Some(cache) = cache {
                    cache.invalidate(event.product(), seq);
                }
                relay.publish(seq, &event);
                *last = Some(seq);
            }
            Some(Ok(StreamItem::Heartbeat { last_seq })) => {
                let mine = last.unwrap_or(Seq::ZERO);
                if catalog.log_replaced(last_seq, mine) {
                    tracing::warn!(catalog = %last_seq, seen = %mine, "catalog log is behind what we saw; restarting from its position");
                    *last = Some(last_seq);
                    if let Some(cache) = cache {
                        cache.restart_from(last_seq);
                    }
                    return Ok(true);
                }
                if let (Some(cache), true) = (cache, last_seq == mine) {
                    cache.resume();
                }
            }
        }
    }
}
