//! Following the catalog's event stream to invalidate the product cache and to relay stock
//! changes to browsers ([`crate::relay`]): one upstream subscription for both, through the
//! shared follower ([`toystore_catalog_api::follow`]: failover between catalog replicas,
//! resumption after the last event, a silence timeout, a backoff).
//!
//! What each thing it hears means here:
//! - the first connection starts after the catalog's current sequence number (the cache
//!   starts empty, so older events are irrelevant): values read before it are refused;
//! - every connection tells browsers to resync (whatever changed while the stream was down);
//! - an event evicts its product, then is relayed;
//! - a heartbeat saying everything is delivered resumes the cache;
//! - a broken or silent stream suspends (and so clears) the cache until it is current again,
//!   so no invalidation is ever missed;
//! - a catalog whose log is behind what was read (its data was reset) restarts the cache from
//!   the catalog's position.
//!
//! With caching off it only relays.

use crate::cache::ProductCache;
use crate::relay::Relay;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::follow::{follow, Followed, Following, OnReplaced, Start};
use toystore_catalog_api::CatalogClient;
use toystore_config::Backoff;

/// Runs until `stop`: keeps `cache` (if any) consistent with the catalog and feeds `relay`.
/// A stream silent for `silence` is reopened, after `backoff`'s waits.
pub async fn follow_catalog(
    catalog: CatalogClient,
    cache: Option<Arc<ProductCache>>,
    relay: Arc<Relay>,
    silence: Duration,
    backoff: Backoff,
    stop: CancellationToken,
) {
    let following = Following {
        silence,
        backoff,
        on_replaced: OnReplaced::SkipToEnd,
    };
    let (mut heard, _following) = follow(catalog, Start::Now, following, stop.clone());
    let cache = cache.as_deref();
    let mut first = true;
    loop {
        let followed = tokio::select! {
            followed = heard.recv() => followed,
            () = stop.cancelled() => return,
        };
        let Some(followed) = followed else { return };
        match followed {
            Followed::Connected { after } => {
                if let (Some(cache), true) = (cache, first) {
                    // Events up to here will not be delivered: refuse values older than them.
                    cache.set_floor(after);
                }
                first = false;
                relay.resync();
            }
            Followed::Event { seq, event } => {
                if let Some(cache) = cache {
                    cache.invalidate(event.product(), seq);
                }
                relay.publish(seq, &event);
            }
            Followed::Heartbeat { caught_up, .. } => {
                if let (Some(cache), true) = (cache, caught_up) {
                    cache.resume();
                }
            }
            Followed::Replaced { heard, read, .. } => {
                tracing::warn!(catalog = %heard, seen = %read, "catalog log is behind what we saw; restarting from its position");
                if let Some(cache) = cache {
                    cache.restart_from(heard);
                }
            }
            Followed::Broken { reason, retry_in } => {
                if let Some(cache) = cache {
                    cache.suspend();
                }
                tracing::warn!(%reason, ?retry_in, "catalog event stream down, cache suspended");
            }
        }
    }
}
