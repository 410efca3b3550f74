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
use toystore_harness::{free_ports, Service};
use toystore_order_api::ReplicaStatus;
use toystore_tests::{start_in, Election, Shop, READY};

const CLIENTS_PER_FRONTEND: usize = 2;
const PER_CLIENT: usize = 20;

async fn wait_up(shop: &Shop) {
    let deadline = tokio::time::Instant::now() + READY;
    while shop.frontend.health().await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "second front-end did not start"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The leader among replicas `ids` and its term, by the rule every caller uses
/// (`toystore_order_api::leader`).
async fn leader_and_term(shop: &Shop, ids: &[u32]) -> Option<(u32, u64)> {
    let mut statuses = Vec::new();
    for id in ids {
        let status = shop
            .health(*id)
            .await
            .and_then(|h| serde_json::from_value::<ReplicaStatus>(h).ok());
        statuses.extend(status);
    }
    toystore_order_api::leader(&statuses).map(|s| (s.id, s.term))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_frontends_share_numbers_never_and_do_not_churn() {
    let mut store = start_in(
        env!("CARGO_BIN_EXE_toystore-node"),
        Election::Frontend,
        |_| {},
    )
    .await
    .unwrap();
    let ids = store.cluster.replica_ids();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_ports(1).unwrap()[0]));
    let log = std::fs::File::create(store.dir.path().join("logs/frontend-2.log")).unwrap();
    let _second = tokio::process::Command::new(env!("CARGO_BIN_EXE_toystore-node"))
        .arg("frontend")
        .arg("--config")
        .arg(store.cluster.config_path())
        .arg("--addr")
        .arg(addr.to_string())
        .env("RUST_LOG", "info")
        .env_remove("TOYSTORE_TOKEN")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let shops = [
        store.shop.clone(),
        store.shop.for_frontend(&format!("http://{addr}")).unwrap(),
    ];
    wait_up(&shops[1]).await;

    // Healthy: both front-ends buy, nobody changes the leader.
    let before = leader_and_term(&shops[0], &ids).await;
    for (f, shop) in shops.iter().enumerate() {
        for i in 0..5 {
            shop.buy_until_placed(&format!("calm-{f}-{i}"), "Tux", 1, READY)
                .await
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await; // a health interval of each
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
        while placed.load(Ordering::SeqCst) < total * stage / 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (leader, _) = leader_and_term(&shops[0], &ids).await.expect("a leader");
        store.cluster.kill(Service::Order(leader)).await.unwrap();
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
