//! Proves the front-end applies replica changes from the watched cluster file without a
//! restart: a replica removed, added back, and moved to a new address (the leader among
//! them), after which purchases still work and land on every replica.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use toystore_config::ReplicaConfig;
use toystore_harness::probe::poll_until;
use toystore_harness::{free_ports, Service};
use toystore_tests::{start_with, Shop, READY};

/// The front-end's replica list as (id, url), polled until `want` holds.
async fn wait_members(shop: &Shop, want: impl Fn(&[(u32, String)]) -> bool) -> Vec<(u32, String)> {
    let members = || async {
        let members: Vec<(u32, String)> = shop
            .frontend_metrics()
            .await
            .unwrap()
            .replicas
            .into_iter()
            .map(|r| (r.id, r.url))
            .collect();
        members
    };
    let applied = poll_until(READY, "topology change not applied", || async {
        let members = members().await;
        want(&members).then_some(members)
    })
    .await;
    match applied {
        Ok(members) => members,
        Err(e) => panic!("{e}: {:?}", members().await),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replica_changes_apply_without_a_restart() {
    let mut store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    let ids = |m: &[(u32, String)]| m.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    assert_eq!(ids(&wait_members(&shop, |_| true).await), vec![3, 2, 1]);

    // Removed.
    let one = store.cluster.config().replica(1).unwrap().clone();
    store
        .cluster
        .update_config(|c| c.replicas.retain(|r| r.id != 1))
        .unwrap();
    wait_members(&shop, |m| ids(m) == vec![3, 2]).await;

    // Added back.
    store
        .cluster
        .update_config(|c| c.replicas.push(one.clone()))
        .unwrap();
    wait_members(&shop, |m| ids(m) == vec![3, 2, 1]).await;

    // Moved: the leader restarts on a new port.
    let leader = store.cluster.wait_leader(READY).await.unwrap();
    store.cluster.kill(Service::Order(leader)).await.unwrap();
    let port = free_ports(1).unwrap()[0];
    let new_addr = SocketAddr::from(([127, 0, 0, 1], port));
    store
        .cluster
        .update_config(|c| {
            c.replicas.retain(|r| r.id != leader);
            c.replicas.push(ReplicaConfig {
                id: leader,
                addr: new_addr.into(),
            });
        })
        .unwrap();
    store.cluster.spawn(Service::Order(leader)).unwrap();
    store
        .cluster
        .wait_healthy(Service::Order(leader), READY)
        .await
        .unwrap();
    let want = format!("http://{new_addr}/");
    wait_members(&shop, |m| {
        m.iter().any(|(id, url)| *id == leader && *url == want)
    })
    .await;

    let (number, _) = shop
        .buy_until_placed("after-move", "Tux", 1, READY)
        .await
        .unwrap();
    assert_eq!(number, 0);
    let order = shop.order(0).await;
    assert!(order.is_ok(), "{order:?}");
}
