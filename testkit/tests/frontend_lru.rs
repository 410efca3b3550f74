//! LRU replacement in the front-end's cache: with a capacity below the number of toys
//! queried, the least recently used entry is replaced (counted in `evictions`), a re-query of
//! a replaced toy misses, a recently used one hits, and the hit and miss counters are exact.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use toystore_frontend::client::FrontendError;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn querying_more_toys_than_the_capacity_replaces_the_least_recently_used() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let frontend = TestFrontend::start_active(&catalog.url, 2).await;
    let counters = |s: Stats| (s.hits, s.misses, s.evictions, s.entries);

    assert_eq!(frontend.quantity("Bird").await, 100); // miss
    assert_eq!(frontend.quantity("Risk").await, 100); // miss
    assert_eq!(counters(frontend.stats().await), (0, 2, 0, 2));
    assert_eq!(frontend.quantity("Sand").await, 100); // miss, replaces Bird
    let s = frontend.stats().await;
    assert!(s.evictions > 0, "{s:?}");
    assert_eq!(counters(s), (0, 3, 1, 2));
    assert_eq!(s.capacity, 2);

    assert_eq!(frontend.quantity("Bird").await, 100); // miss: it was replaced; replaces Risk
    assert_eq!(counters(frontend.stats().await), (0, 4, 2, 2));
    assert_eq!(frontend.quantity("Sand").await, 100); // hit; Bird is now least recent
    assert_eq!(frontend.quantity("Bird").await, 100); // hit; Sand is now least recent
    assert_eq!(counters(frontend.stats().await), (2, 4, 2, 2));
    assert_eq!(frontend.quantity("Risk").await, 100); // miss, replaces Sand
    assert_eq!(frontend.quantity("Bird").await, 100); // hit
    assert_eq!(frontend.quantity("Sand").await, 100); // miss, replaces Risk
    let s = frontend.stats().await;
    assert_eq!(counters(s), (3, 6, 4, 2), "{s:?}");
    assert_eq!(s.invalidations, 0, "replacement is not invalidation");

    // A 404 is neither cached nor evicts anything.
    assert_eq!(
        frontend.client.product("Nope").await,
        Err(FrontendError::NotFound("product not found".into()))
    );
    let s = frontend.stats().await;
    assert_eq!((s.evictions, s.entries), (4, 2));
}
