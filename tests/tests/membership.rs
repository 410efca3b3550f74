//! The Raft membership follows the cluster file, through the leader, in both election modes:
//! a replica added to the file (started on an empty data file) joins as a learner, receives
//! every order, and becomes a voter; a replica removed from the file leaves the voters, and
//! the remaining ones go on selling and hold identical logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use toystore_config::ReplicaConfig;
use toystore_harness::{free_ports, Service};
use toystore_tests::{start_in, Election, Shop, READY};

/// Waits until every replica of `ids` reports `voters` as its membership's voters and
/// holds `orders` orders.
async fn wait_voters(shop: &Shop, ids: &[u32], voters: &[u32], orders: u64) {
    shop.wait_health(ids, READY * 2, |said| {
        said.iter().all(|h| {
            h.as_ref().is_some_and(|h| {
                let mut v = h.voters.clone();
                v.sort_unstable();
                v == voters && h.last_seq.0 == orders
            })
        })
    })
    .await
    .unwrap();
}

/// Places `n` orders with keys `<prefix>-<i>`.
async fn buy(shop: &Shop, prefix: &str, n: u64) {
    for i in 0..n {
        shop.buy_until_placed(&format!("{prefix}-{i}"), "Tux", 1, READY)
            .await
            .unwrap();
    }
}

async fn scenario(election: Election) {
    let mut store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |_| {})
        .await
        .unwrap();
    buy(&store.shop, "before", 3).await;
    let mut orders = 3;

    // Added: replica 4 on a new port, with an empty file.
    let addr = SocketAddr::from(([127, 0, 0, 1], free_ports(1).unwrap()[0]));
    store
        .cluster
        .update_config(|c| {
            c.replicas.push(ReplicaConfig {
                id: 4,
                addr: addr.into(),
            })
        })
        .unwrap();
    store.cluster.spawn(Service::Order(4)).unwrap();
    store
        .shop
        .add_replica(4, &format!("http://{addr}"))
        .unwrap();
    wait_voters(&store.shop, &[1, 2, 3, 4], &[1, 2, 3, 4], orders).await;

    // Removed: replica 1 leaves the file; the others drop it from the voters.
    store
        .cluster
        .update_config(|c| c.replicas.retain(|r| r.id != 1))
        .unwrap();
    wait_voters(&store.shop, &[2, 3, 4], &[2, 3, 4], orders).await;

    // Still selling, on the new membership, and every remaining replica has the order.
    buy(&store.shop, "after", 3).await;
    orders += 3;
    wait_voters(&store.shop, &[2, 3, 4], &[2, 3, 4], orders).await;
    // The file lists 2, 3, 4 now: their logs.
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs.len(), 3);
    assert_eq!(logs[0].len() as u64, orders);
    assert_eq!(logs[0], logs[1], "replicas 2 and 3 differ");
    assert_eq!(logs[0], logs[2], "replicas 2 and 4 differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_membership_follows_the_cluster_file() {
    scenario(Election::Frontend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_membership_follows_the_cluster_file() {
    scenario(Election::Raft).await;
}
