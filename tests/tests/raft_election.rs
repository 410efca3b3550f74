//! The `raft` election policy on its own: with the front-end gone, killing the leader gets
//! a new one elected by the replicas themselves; with one replica down the other two keep
//! selling; with two down a purchase fails with 503 in bounded time and nothing is
//! acknowledged; the restarted replicas catch up and `tools diff` finds the three files
//! equal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use anyhow::Context;
use std::time::{Duration, Instant};
use toystore_harness::Service;
use toystore_order_api::ReplicaStatus;
use toystore_tests::{start_in, Election, FrontendError, Shop, READY};

/// The replica of `ids` that leads (`toystore_order_api::leader`, the rule every caller
/// uses) in a term above `above`, and that term, polled until `timeout`.
async fn wait_leader_above(shop: &Shop, ids: &[u32], above: u64, timeout: Duration) -> (u32, u64) {
    let leader_above = |said: &[Option<ReplicaStatus>]| {
        toystore_order_api::leader(said.iter().flatten())
            .filter(|s| s.term > above)
            .map(|s| (s.id, s.term))
    };
    let said = shop
        .wait_health(ids, timeout, |said| leader_above(said).is_some())
        .await
        .context("no new leader elected by the replicas")
        .unwrap();
    leader_above(&said).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_elect_without_the_frontend_and_need_a_majority() {
    let mut store = start_in(
        env!("CARGO_BIN_EXE_toystore-node"),
        Election::Raft,
        |spec| spec.config.frontend.failover_timeout = Duration::from_secs(2),
    )
    .await
    .unwrap();
    let shop = store.shop.clone();
    let ids = store.cluster.replica_ids();
    shop.buy_until_placed("a", "Tux", 1, READY).await.unwrap();
    shop.wait_converged(1, READY).await.unwrap();
    let (old, term) = wait_leader_above(&shop, &ids, 0, READY).await;

    // No front-end: the replicas replace a killed leader on their own.
    store.cluster.kill(Service::Frontend).await.unwrap();
    let killed_at = Instant::now();
    store.cluster.kill(Service::Order(old)).await.unwrap();
    let live: Vec<u32> = ids.iter().copied().filter(|id| *id != old).collect();
    let (new, _) = wait_leader_above(&shop, &live, term, READY).await;
    eprintln!(
        "replica {new} elected {:?} after killing {old}",
        killed_at.elapsed()
    );

    // One down: the other two keep selling.
    store
        .cluster
        .restart(Service::Frontend, READY)
        .await
        .unwrap();
    let (number, _) = shop.buy_until_placed("b", "Uno", 1, READY).await.unwrap();
    assert_eq!(number, 1);

    // Two down: a purchase fails with 503 in bounded time.
    let other = live.iter().copied().find(|id| *id != new).unwrap();
    store.cluster.kill(Service::Order(other)).await.unwrap();
    let started = Instant::now();
    let bought = shop.buy("c", "Clue", 1).await;
    assert!(
        matches!(bought, Err(FrontendError::Unavailable { status: 503, .. })),
        "{bought:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "503 took {:?}",
        started.elapsed()
    );

    // Both back: they catch up; the retried purchase is one order.
    store
        .cluster
        .restart(Service::Order(old), READY)
        .await
        .unwrap();
    store
        .cluster
        .restart(Service::Order(other), READY)
        .await
        .unwrap();
    let (number, _) = shop.buy_until_placed("c", "Clue", 1, READY).await.unwrap();
    assert_eq!(number, 2);
    shop.wait_converged(3, READY).await.unwrap();
    let paths: Vec<_> = ids.iter().map(|id| store.order_db(*id)).collect();
    let toystore_tests::Store { cluster, dir, .. } = store;
    let unclean = cluster.stop(Duration::from_secs(10)).await;
    assert!(unclean.is_empty(), "{unclean:?}");
    let report = toystore_harness::diff::diff_files(&paths).unwrap();
    assert!(report.identical(), "{}", report.to_text());
    let logs: Vec<_> = paths
        .iter()
        .map(|p| toystore_tests::raw_log(p).unwrap())
        .collect();
    assert_eq!(logs[0].len(), 3);
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
    drop(dir);
}
