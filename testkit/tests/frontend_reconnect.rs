//! A broken and resumed invalidation stream leaves no stale entry behind. While the catalog
//! is down the front-end's cache is inactive and empty and it never answers from it; stock
//! changed while the stream was down (by opening the catalog's file directly) is what the
//! front-end shows as soon as it has reconnected to a catalog restarted on the same file and
//! port; purchases after the reconnection invalidate as before. A catalog whose data was
//! reset (its log is behind what the front-end saw) is followed again from its position.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use toystore_catalog::BuyOutcome;
use toystore_events::Purchase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_stream_leaves_no_stale_entry() {
    let (_dir, db) = temp_db();
    let first = TestCatalog::start(&db).await;
    let addr = first.addr;
    let seq_before = first.client().health().await.expect("health").last_seq;
    let frontend = TestFrontend::start_active(&first.url, 8).await;

    assert_eq!(frontend.quantity("Tux").await, 100);
    assert_eq!(frontend.quantity("Tux").await, 100);
    assert_eq!(frontend.quantity("Whale").await, 100);
    let s = frontend.stats().await;
    assert_eq!((s.hits, s.entries), (1, 2), "{s:?}");

    // The stream breaks: the catalog shuts down.
    first.stop().await.expect("clean stop");
    frontend.wait_active(false).await;
    assert_eq!(
        frontend.stats().await.entries,
        0,
        "suspending cleared the cache"
    );
    // Down, the front-end answers from nothing it cached: a 503 error, not the old value.
    let (status, body) = frontend.product("Tux").await;
    assert_eq!(status, 503, "{body}");
    assert_error_envelope(status, &body);

    // Stock changes while the front-end cannot hear about it: open the catalog's file
    // directly (the server must have released it) and buy.
    let offline = toystore_catalog::server::open_alone(&db, toystore_catalog::toys::DEFAULT_STOCK)
        .await
        .unwrap_or_else(|e| panic!("bug: the stopped catalog still holds its file: {e}"));
    let outcome = offline
        .buy(Purchase {
            request_id: "while-down".try_into().unwrap(),
            name: "Tux".try_into().unwrap(),
            quantity: 3u32.try_into().unwrap(),
        })
        .await
        .expect("offline buy");
    assert_eq!(
        outcome,
        BuyOutcome::Bought {
            seq: seq_before.next(),
            replayed: false
        }
    );
    offline.stop().await;

    // The catalog comes back on the same file and port; the front-end reconnects, resumes
    // after the last event it applied, and only then serves from its cache again.
    let second = TestCatalog::start_on(rebind(addr).await, &db).await;
    frontend.wait_active(true).await;
    assert_eq!(
        frontend.quantity("Tux").await,
        97,
        "the change made while down"
    );
    assert_eq!(frontend.quantity("Whale").await, 100);
    for _ in 0..10 {
        assert_eq!(frontend.quantity("Tux").await, 97, "never the old 100");
    }

    // Live invalidations work on the resumed stream.
    let before = frontend.stats().await;
    buy(&second.client(), "after-restart", "Tux", 2).await;
    wait_until("the invalidation arrives on the resumed stream", || async {
        frontend.stats().await.invalidations > before.invalidations
    })
    .await;
    assert_eq!(frontend.quantity("Tux").await, 95);
    assert_eq!(frontend.stats().await.misses, before.misses + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_catalog_is_followed_again_from_its_position() {
    let (_dir, db) = temp_db();
    let first = TestCatalog::start(&db).await;
    let addr = first.addr;
    let frontend = TestFrontend::start_active(&first.url, 8).await;
    for i in 0..5 {
        buy(&first.client(), &format!("old-{i}"), "Clue", 10).await;
    }
    wait_until("the front-end has seen the old log's purchases", || async {
        frontend.quantity("Clue").await == 50
    })
    .await;
    assert_eq!(frontend.quantity("Clue").await, 50);
    first.stop().await.expect("clean stop");
    frontend.wait_active(false).await;

    // A catalog with fresh data (a shorter log) on the same port.
    let (_dir2, fresh) = temp_db();
    let second = TestCatalog::start_on(rebind(addr).await, &fresh).await;
    frontend.wait_active(true).await;
    assert_eq!(
        frontend.quantity("Clue").await,
        100,
        "the reset catalog's value"
    );
    assert_eq!(frontend.quantity("Clue").await, 100);

    // And its purchases invalidate.
    assert_eq!(frontend.quantity("Uno").await, 100);
    assert_eq!(frontend.quantity("Uno").await, 100);
    buy(&second.client(), "new-1", "Uno", 1).await;
    wait_until("the reset catalog's purchase shows", || async {
        frontend.quantity("Uno").await == 99
    })
    .await;
    for _ in 0..10 {
        assert_eq!(frontend.quantity("Uno").await, 99);
    }
}
