//! Two front-ends on the same three replicas (`frontend` election policy), both taking
//! orders: while the leader is healthy neither changes it (no churn: same leader, same
//! term); while leaders are killed and restarted, no order number is shared by two request
//! ids, every acknowledged order is readable afterwards, and the replicas end up equal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use toystore_harness::probe::poll_until;
use toystore_harness::{free_ports, Service};
use toystore_tests::{start_in, wait_placed, Election, Shop, READY};

const CLIENTS_PER_FRONTEND: usize = 2;
const PER_CLIENT: usize = 20;

/// The leader among replicas `ids` and its term, by the rule every caller uses
/// (`toystore_order_api::leader`).
async fn leader_and_term(shop: &Shop, ids: &[u32]) -> Option<(u32, u64)> {
    let asks = ids.iter().map(|id| shop.health(*id));
    let statuses = futures_util::future::join_all(asks).await;
    toystore_order_api::leader(statuses.iter().flatten()).map(|s| (s.id, s.term))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_frontends_share_numbers_never_and_do_not_churn() {
    // The launcher starts the second front-end (its log is `logs/frontend-2.log`) and
    // waits until it answers.
    let second = SocketAddr::from(([127, 0, 0, 1], free_ports(1).unwrap()[0]));
    let mut store = start_in(
        env!("CARGO_BIN_EXE_toystore-node"),
        Election::Frontend,
        |spec| spec.second_frontend = Some(second),
    )
    .await
    .unwrap();
    let ids = store.cluster.replica_ids();
    let shops = [
        store.shop.clone(),
        store
            .shop
            .for_frontend(&store.cluster.url(Service::SecondFrontend))
            .unwrap(),
    ];
    // Both front-ends have chosen their leader (the launcher waited for the first's).
    poll_until(READY, "the second front-end chose no leader", || async {
        shops[1].frontend_metrics().await.ok()?.leader.map(drop)
    })
    .await
    .unwrap();

    // Healthy: both front-ends buy, nobody changes the leader.
    let before = leader_and_term(&shops[0], &ids).await;
    for (f, shop) in shops.iter().enumerate() {
        for i in 0..5 {
            shop.buy_until_placed(&format!("calm-{f}-{i}"), "Tux", 1, READY)
                .await
                .unwrap();
        }
    }
    // A health interval of each front-end passes (an observation window, not a wait for
    // something to hold): neither may change the leader meanwhile.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let after = leader_and_term(&shops[0], &ids).await;
    assert!(before.is_some());
    assert_eq!(before, after, "a healthy leader was changed");
    let calm = 10u64;

    // Faults: both front-ends buy while two leaders in turn are killed.
    let placed = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for (f, shop) in shops.iter().enumerate() {
        for c in 0..CLIENTS_PER_FRONTEND {
            let (shop, placed) = (shop.clone(), placed.clone());
            clients.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..PER_CLIENT {
                    let key = format!("fe{f}-c{c}-{i}");
                    let (n, _) = shop
                        .buy_until_placed(&key, "Uno", 1, Duration::from_secs(60))
                        .await
                        .unwrap();
                    placed.fetch_add(1, Ordering::SeqCst);
                    mine.push((key, n));
                }
                mine
            }));
        }
    }
    let total = (2 * CLIENTS_PER_FRONTEND * PER_CLIENT) as u64;
    for stage in 1..=2u64 {
        wait_placed(&placed, total * stage / 3).await;
        let leader = store.cluster.replica_leader().await.expect("a leader");
        store.cluster.kill(Service::Order(leader)).await.unwrap();
        // The leader stays down a moment (the fault's length, not a wait) while both
        // front-ends keep buying.
        tokio::time::sleep(Duration::from_millis(300)).await;
        store
            .cluster
            .restart(Service::Order(leader), READY)
            .await
            .unwrap();
    }
    let mut by_number: BTreeMap<u64, String> = BTreeMap::new();
    for c in clients {
        for (key, n) in c.await.unwrap() {
            if let Some(other) = by_number.insert(n, key.clone()) {
                panic!("order {n} given to both {other} and {key}");
            }
        }
    }
    assert_eq!(
        by_number.keys().copied().collect::<Vec<_>>(),
        (calm..calm + total).collect::<Vec<_>>()
    );
    for n in by_number.keys() {
        let order = shops[1].order(*n).await;
        assert!(order.is_ok(), "order {n}: {order:?}");
    }
    store
        .shop
        .wait_converged(calm + total, READY)
        .await
        .unwrap();
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
}
