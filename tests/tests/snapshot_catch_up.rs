//! A replica kept down while the leader snapshots and purges its log catches up by
//! installing the leader's snapshot (a small `snapshot_every` and nothing kept behind a
//! snapshot, so the entries it lacks are gone from every log), and ends with the same
//! file contents as the others.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use toystore_tests::{start_in, Election, READY};
use toystore_tools::cluster::Service;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_down_during_snapshot_and_purge_catches_up_by_install() {
    let mut store = start_in(
        env!("CARGO_BIN_EXE_toystore-node"),
        Election::Frontend,
        |spec| {
            spec.config.order.snapshot_every = 10;
            spec.config.order.keep_after_snapshot = 0;
        },
    )
    .await
    .unwrap();
    let shop = store.shop.clone();
    shop.buy_until_placed("k0", "Tux", 1, READY).await.unwrap();
    let leader = store.cluster.wait_leader(READY).await.unwrap();
    let down = store
        .cluster
        .replica_ids()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();
    shop.wait_converged(1, READY).await.unwrap();
    let behind = shop.health(down).await.unwrap()["last_log_index"]
        .as_u64()
        .unwrap();
    store.cluster.kill(Service::Order(down)).await.unwrap();

    let total = 35u64;
    for i in 1..total {
        let toy = ["Tux", "Uno", "Clue", "Jenga"][(i % 4) as usize];
        let (n, _) = shop
            .buy_until_placed(&format!("k{i}"), toy, 1, READY)
            .await
            .unwrap();
        assert_eq!(n, i);
    }
    let deadline = tokio::time::Instant::now() + READY;
    loop {
        let h = shop.health(leader).await.unwrap();
        if h["snapshot"].as_u64().is_some_and(|s| s > behind + 10) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no snapshot: {h}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    store
        .cluster
        .restart(Service::Order(down), READY)
        .await
        .unwrap();
    shop.wait_converged(total, READY).await.unwrap();
    let h = shop.health(down).await.unwrap();
    assert!(
        h["snapshot"].as_u64().is_some(),
        "the restarted replica installed a snapshot: {h}"
    );
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0].len() as u64, total);
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
}
