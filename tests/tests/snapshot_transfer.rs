//! Snapshot transfers between real replicas (snapshots by reference, `order::transfer`),
//! with a small `snapshot_every` and nothing kept behind a snapshot, so the entries a
//! replica missed are gone from every log and it can only catch up by installing one:
//! - a lagging replica (its log a prefix of the leader's) is sent only the events it lacks,
//!   while the leader keeps selling, snapshotting and purging, and ends identical to the
//!   others;
//! - a transfer cut by the receiver's crash in the middle (a failpoint aborts it as the first
//!   event arrives) leaves a replica that, restarted, is sent the snapshot again, installs
//!   it and ends identical to the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use toystore_harness::probe::poll_until;
use toystore_harness::Service;
use toystore_tests::{metric_value, start_in, Election, Shop, Store, READY};

/// A counter of replica `id`'s `/metrics` (0 if it has none yet).
async fn counter(shop: &Shop, id: u32, name: &str) -> u64 {
    let scrape = shop.scrape(&shop.replica(id)).await.expect("metrics");
    metric_value(&scrape, &format!("{name}_total"), &[]) as u64
}

/// A store that snapshots every 10 entries and keeps nothing behind a snapshot, so a
/// replica that misses entries can only catch up by a snapshot.
async fn store(tweak: impl FnOnce(&mut toystore_harness::ClusterSpec)) -> Store {
    start_in(
        env!("CARGO_BIN_EXE_toystore-node"),
        Election::Frontend,
        |spec| {
            spec.config.order.snapshot_every = 10;
            spec.config.order.keep_after_snapshot = 0;
            tweak(spec);
        },
    )
    .await
    .unwrap()
}

/// Buys orders `from..to` (keys `k<i>`), each placed before the next.
async fn buy_range(shop: &Shop, from: u64, to: u64) {
    for i in from..to {
        let toy = ["Tux", "Uno", "Clue", "Jenga"][(i % 4) as usize];
        let (n, _) = shop
            .buy_until_placed(&format!("k{i}"), toy, 1, READY)
            .await
            .unwrap();
        assert_eq!(n, i);
    }
}

/// Places `held` orders, kills a follower, places up to `total` (the leader snapshots and
/// purges past it); returns the follower's id.
async fn leave_one_behind(store: &mut Store, held: u64, total: u64) -> u32 {
    let shop = store.shop.clone();
    buy_range(&shop, 0, held).await;
    let leader = store.cluster.wait_leader(READY).await.unwrap();
    shop.wait_converged(held, READY).await.unwrap();
    let down = store
        .cluster
        .replica_ids()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    store.cluster.kill(Service::Order(down)).await.unwrap();
    buy_range(&shop, held, total).await;
    down
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lagging_replica_is_sent_only_what_it_lacks_while_the_leader_keeps_selling() {
    let mut store = store(|_| {}).await;
    let (held, total, more) = (20u64, 60u64, 90u64);
    let down = leave_one_behind(&mut store, held, total).await;
    let shop = store.shop.clone();

    // The leader keeps selling (and snapshotting, and purging) while it catches up.
    let selling = tokio::spawn({
        let shop = shop.clone();
        async move { buy_range(&shop, total, more).await }
    });
    store
        .cluster
        .restart(Service::Order(down), READY)
        .await
        .unwrap();
    selling.await.unwrap();
    shop.wait_converged(more, READY).await.unwrap();

    let installed = counter(&shop, down, "toystore_snapshots_installed").await;
    let received = counter(&shop, down, "toystore_snapshot_events_received").await;
    assert!(installed >= 1, "it caught up by a snapshot");
    assert!(
        received > 0 && received <= more - held,
        "it was sent {received} events; it held {held} of {more}"
    );
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0].len() as u64, more);
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transfer_cut_by_the_receivers_crash_is_finished_after_a_restart() {
    let marker = tempfile::tempdir().unwrap();
    let armed = format!(
        "snapshot-receiving@{}",
        marker.path().join("fired").display()
    );
    let mut store = store(|spec| {
        spec.env.push(("TOYSTORE_FAILPOINT".into(), armed));
    })
    .await;
    let (held, total) = (5u64, 40u64);
    let down = leave_one_behind(&mut store, held, total).await;
    let shop = store.shop.clone();

    // Started again, it is sent a snapshot and dies as the first event arrives.
    store.cluster.spawn(Service::Order(down)).unwrap();
    let cluster = &mut store.cluster;
    let exited = || std::future::ready((!cluster.is_running(Service::Order(down))).then_some(()));
    poll_until(READY, "the failpoint did not fire", exited)
        .await
        .unwrap();
    assert!(marker.path().join("fired").exists());

    // Restarted once more (the failpoint fires only once), it finishes.
    store
        .cluster
        .restart(Service::Order(down), READY)
        .await
        .unwrap();
    shop.wait_converged(total, READY).await.unwrap();
    assert!(counter(&shop, down, "toystore_snapshots_installed").await >= 1);
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0].len() as u64, total);
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
}
