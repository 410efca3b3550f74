//! Cache invalidation by the catalog's event stream: after a purchase (or a restock) through
//! the catalog, the front-end's cached entry of that toy — and only that one — is evicted, the
//! next query misses and shows the new quantity, and from then on the old value is never
//! served again. While buys are refused in a tight loop (which append nothing) the stream
//! keeps its heartbeats and the cache stays active, serving hits throughout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_through_the_catalog_invalidates_the_cached_product() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let frontend = TestFrontend::start_active(&catalog.url, 8).await;

    assert_eq!(frontend.quantity("Tux").await, 100);
    assert_eq!(frontend.quantity("Tux").await, 100);
    assert_eq!(frontend.quantity("Whale").await, 100);
    let s0 = frontend.stats().await;
    assert_eq!((s0.hits, s0.misses, s0.entries), (1, 2, 2), "{s0:?}");

    buy(&client, "inv-1", "Tux", 5).await;
    wait_until("the purchase's invalidation arrives", || async {
        frontend.stats().await.invalidations == 1
    })
    .await;
    let s1 = frontend.stats().await;
    assert_eq!(s1.entries, 1, "only Tux was evicted: {s1:?}");

    assert_eq!(frontend.quantity("Tux").await, 95, "the new quantity");
    let s2 = frontend.stats().await;
    assert_eq!(
        s2.misses,
        s1.misses + 1,
        "the query after the invalidation missed"
    );
    assert_eq!(s2.hits, s1.hits);

    assert_eq!(frontend.quantity("Whale").await, 100);
    let s3 = frontend.stats().await;
    assert_eq!(
        s3.hits,
        s2.hits + 1,
        "Whale's entry survived Tux's invalidation"
    );

    for _ in 0..20 {
        assert_eq!(
            frontend.quantity("Tux").await,
            95,
            "never the old value again"
        );
    }
    let s4 = frontend.stats().await;
    assert_eq!((s4.hits, s4.misses), (s3.hits + 20, s3.misses), "{s4:?}");
    assert_eq!(s4.invalidations, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restock_through_the_catalog_invalidates_the_sold_out_product() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let frontend = TestFrontend::start_active(&catalog.url, 8).await;

    assert_eq!(frontend.quantity("Jenga").await, 100);
    buy(&client, "sell-out", "Jenga", 100).await;
    wait_until("the sell-out's invalidation arrives", || async {
        frontend.stats().await.invalidations == 1
    })
    .await;
    assert_eq!(frontend.quantity("Jenga").await, 0, "sold out");
    assert_eq!(frontend.quantity("Jenga").await, 0, "now from the cache");
    let before = frontend.stats().await;
    assert_eq!(before.entries, 1);

    let restocked = client.restock().await.expect("restock");
    assert_eq!(restocked.restocked, vec!["Jenga".to_string()]);
    wait_until("the restock's invalidation arrives", || async {
        frontend.stats().await.invalidations == 2
    })
    .await;
    assert_eq!(frontend.quantity("Jenga").await, 100, "restocked");
    let after = frontend.stats().await;
    assert_eq!(after.misses, before.misses + 1);
    for _ in 0..10 {
        assert_eq!(frontend.quantity("Jenga").await, 100);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_stays_active_while_buys_are_refused_in_a_tight_loop() {
    let (_dir, db) = temp_db();
    let catalog = TestCatalog::start(&db).await;
    let client = catalog.client();
    let frontend = TestFrontend::start_active(&catalog.url, 8).await;
    assert_eq!(frontend.quantity("Uno").await, 100);
    buy(&client, "sell-out", "Uno", 100).await;
    wait_until("the sell-out's invalidation arrives", || async {
        frontend.stats().await.invalidations == 1
    })
    .await;
    assert_eq!(frontend.quantity("Tux").await, 100);
    let before = frontend.stats().await;

    // Longer than the front-end's silence timeout (2 s here): before the fix the refusals
    // kept the catalog from heartbeating, and the cache was suspended for lack of one.
    let refusing = tokio::spawn({
        let client = client.clone();
        async move { refuse_until(&client, 4, Duration::from_secs(3)).await }
    });
    let mut checks = 0u64;
    while !refusing.is_finished() {
        let s = frontend.stats().await;
        assert!(s.active, "the cache stayed active: {s:?}");
        assert_eq!(frontend.quantity("Tux").await, 100);
        checks += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = refusing.await.expect("refusals");
    assert!(refused > 50, "the loop ran: {refused} refused");
    let after = frontend.stats().await;
    assert_eq!(after.suspensions, before.suspensions, "{after:?}");
    assert!(after.active);
    assert_eq!(
        after.hits - before.hits,
        checks,
        "every query during the refusals was a hit: {after:?}"
    );
}
