//! Three catalog replicas on Raft, the cases beside a leader's failover under load
//! (`catalog_failover.rs`):
//! - the front-end's cache never serves a value older than an invalidation delivered
//!   before the query, across catalog leader changes: once the queries show a round of
//!   purchases, the catalog leader is killed, and no query after that shows an older value
//!   (cached entries survive the leader change only as fresh as the last invalidation);
//! - a catalog replica whose file was wiped rejoins under its id and catches up by a
//!   snapshot (its entries purged from the leader's log), nothing lost: the catalog files
//!   end equal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use toystore_harness::Service;
use toystore_tests::{metric_value, start_catalogs, Election, READY};

const NODE: &str = env!("CARGO_BIN_EXE_toystore-node");

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cache_shows_every_purchase_across_catalog_leader_changes() {
    let mut store = start_catalogs(NODE, 3, Election::Raft, |_| {})
        .await
        .unwrap();
    let toys = ["Tux", "Whale", "Uno"];
    let mut expected: Vec<u64> = Vec::new();
    for toy in toys {
        // Cached before the purchases: the first query fills the cache.
        expected.push(store.shop.quantity(toy).await.unwrap());
    }
    let mut restarts = Vec::new();
    for round in 0..3 {
        for (i, toy) in toys.iter().enumerate() {
            let key = format!("round{round}-{toy}");
            store
                .shop
                .buy_until_placed(&key, toy, 1, Duration::from_secs(60))
                .await
                .unwrap();
            expected[i] -= 1;
        }
        // Once each purchase's invalidation has arrived (the query shows it), the catalog
        // leader dies: no query after that may show a value from before (a 503 while no
        // catalog leader is known is fine; no purchase happens meanwhile, so every answer
        // is exactly what is left).
        for (i, toy) in toys.iter().enumerate() {
            let shop = &store.shop;
            let want = expected[i];
            toystore_harness::probe::poll_until(READY, "the purchase shows", || async move {
                (shop.quantity(toy).await.ok()? == want).then_some(())
            })
            .await
            .unwrap();
        }
        let leader = store.cluster.wait_catalog_leader(READY).await.unwrap();
        store.cluster.kill(Service::Catalog(leader)).await.unwrap();
        restarts.push(leader);
        let mut answered = 0;
        for _ in 0..5 {
            for (i, toy) in toys.iter().enumerate() {
                match store.shop.quantity(toy).await {
                    Ok(q) => {
                        assert_eq!(q, expected[i], "round {round}: {toy}");
                        answered += 1;
                    }
                    Err(e) => eprintln!("round {round}: {toy}: {e:#}"),
                }
            }
        }
        // The queries fail over to the next catalog leader: the check above ran.
        assert!(
            answered > 0,
            "round {round}: no query answered after the catalog leader died"
        );
        store
            .cluster
            .restart(Service::Catalog(leader), READY)
            .await
            .unwrap();
        for (i, toy) in toys.iter().enumerate() {
            assert_eq!(
                store.shop.quantity(toy).await.unwrap(),
                expected[i],
                "{toy}"
            );
        }
    }
    store.cluster.converge(READY).await.unwrap();
    eprintln!("catalog leaders killed: {restarts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_wiped_catalog_replica_rejoins_and_catches_up() {
    // Snapshots every 20 entries, keeping 5: the wiped replica's entries are purged from
    // the leader's log by the time it comes back, so it catches up by a snapshot.
    let mut store = start_catalogs(NODE, 3, Election::Raft, |spec| {
        spec.config.order.snapshot_every = 20;
        spec.config.order.keep_after_snapshot = 5;
    })
    .await
    .unwrap();
    for i in 0..10 {
        store
            .shop
            .buy_until_placed(&format!("before-{i}"), "Tux", 1, Duration::from_secs(60))
            .await
            .unwrap();
    }
    let leader = store.cluster.wait_catalog_leader(READY).await.unwrap();
    let wiped = store
        .cluster
        .catalog_ids()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    store.cluster.kill(Service::Catalog(wiped)).await.unwrap();
    let file = store.cluster.config().catalog_db(wiped);
    std::fs::remove_file(&file).unwrap();
    for i in 0..60 {
        store
            .shop
            .buy_until_placed(&format!("while-{i}"), "Whale", 1, Duration::from_secs(60))
            .await
            .unwrap();
    }
    store
        .cluster
        .restart(Service::Catalog(wiped), READY)
        .await
        .unwrap();
    store.cluster.converge(READY).await.unwrap();
    assert_eq!(store.shop.quantity("Tux").await.unwrap(), 90);
    assert_eq!(store.shop.quantity("Whale").await.unwrap(), 40);

    // It caught up by a snapshot: its entries were purged from the leader's log.
    let metrics = store
        .shop
        .scrape(&store.cluster.url(Service::Catalog(wiped)))
        .await
        .unwrap();
    assert!(
        metric_value(&metrics, "toystore_snapshots_installed_total", &[]) >= 1.0,
        "the wiped replica installed no snapshot"
    );
    store.stop_with_equal_catalogs().await.unwrap();
}
