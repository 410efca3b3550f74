//! Kills the order leader with SIGKILL while clients are buying, then a follower, and
//! proves: every purchase a client saw succeed is readable afterwards, identical; a
//! client saw at worst a 503 that a retry with the same key resolved to one order; order
//! numbers are unique and gap-free; stock dropped exactly once per order; and after the
//! killed replicas come back, all three redb files hold byte-identical order logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use toystore_harness::probe::poll_until;
use toystore_harness::Service;
use toystore_tests::{
    assert_gap_free, buying_clients, start_in, wait_placed, Election, OrderRecord, READY,
};

const TOYS: [&str; 5] = ["Tux", "Whale", "Uno", "Jenga", "Clue"];
const CLIENTS: usize = 4;
const PER_CLIENT: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_killing_the_leader_and_a_follower_while_buying_loses_no_order() {
    scenario(Election::Frontend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_killing_the_leader_and_a_follower_while_buying_loses_no_order() {
    scenario(Election::Raft).await;
}

async fn scenario(election: Election) {
    let mut store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |_| {})
        .await
        .unwrap();
    let placed = Arc::new(AtomicU64::new(0));
    let clients = buying_clients(&store.shop, CLIENTS, PER_CLIENT, &TOYS, &placed);

    // Kill the leader once a quarter of the orders are in, a follower at half.
    let total = (CLIENTS * PER_CLIENT) as u64;
    wait_placed(&placed, total / 4).await;
    let leader = store.cluster.leader().await.expect("a leader");
    store.cluster.kill(Service::Order(leader)).await.unwrap();
    wait_placed(&placed, total / 2).await;
    let new_leader = store.cluster.leader().await.expect("a new leader");
    assert_ne!(new_leader, leader, "a killed replica cannot lead");
    let follower = store
        .cluster
        .replica_ids()
        .into_iter()
        .find(|id| *id != leader && *id != new_leader)
        .unwrap();
    store.cluster.kill(Service::Order(follower)).await.unwrap();
    store
        .cluster
        .restart(Service::Order(leader), READY)
        .await
        .unwrap();

    let mut all = Vec::new();
    let mut failures = 0;
    for c in clients {
        for p in c.await.unwrap() {
            failures += p.failed;
            all.push(OrderRecord {
                number: p.number.into(),
                name: p.name.try_into().unwrap(),
                quantity: p.quantity.try_into().unwrap(),
            });
        }
    }
    eprintln!("client-visible failures resolved by a retry with the same key: {failures}");
    store
        .cluster
        .restart(Service::Order(follower), READY)
        .await
        .unwrap();

    // Unique, gap-free numbers; each readable and identical through the front-end.
    let mut numbers: Vec<u64> = all.iter().map(|p| p.number.get()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..total).collect::<Vec<_>>());
    for p in &all {
        let got = store.shop.order(p.number.get()).await;
        assert_eq!(
            got.as_ref(),
            Ok(p),
            "order {} unreadable or altered",
            p.number
        );
    }

    // Stock dropped exactly once per order (no toy sold out, so no restock interferes).
    let mut sold: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &all {
        *sold.entry(p.name.as_str()).or_default() += u64::from(p.quantity.get());
    }
    for (name, n) in &sold {
        let expected = 100 - n;
        let shop = &store.shop;
        let dropped = poll_until(Duration::from_secs(10), "the stock to drop", || async {
            (shop.quantity(name).await.unwrap() == expected).then_some(())
        })
        .await;
        if let Err(e) = dropped {
            let q = shop.quantity(name).await.unwrap();
            panic!("{e}: {name}: stock {q}, expected {expected}");
        }
    }

    store.shop.wait_converged(total, READY).await.unwrap();
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0].len() as u64, total);
    assert_eq!(logs[0], logs[1], "replicas 1 and 2 differ");
    assert_eq!(logs[0], logs[2], "replicas 1 and 3 differ");
    let events: Vec<_> = logs[0]
        .iter()
        .map(|(_, b)| toystore_events::decode(b).unwrap())
        .collect();
    assert_gap_free(&events);
}
