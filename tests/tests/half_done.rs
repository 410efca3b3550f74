//! A purchase the catalog sold whose order was never proposed (its leader crashed between
//! the catalog buy and the proposal, and the caller never retried) is completed by the next
//! leader: the order appears with the catalog's request id, toy and quantity, the stock was
//! taken once, a late retry of the key finds the same order, and the replicas converge.
//! With three catalog replicas, the same holds when the catalog's leader is killed right
//! after the sale: the completers' streams fail over to another catalog replica.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use toystore_harness::probe::poll_until;
use toystore_harness::Service;
use toystore_tests::{start_catalogs, start_in, Election, OrderRecord, READY};

/// What happens to the catalog meanwhile.
#[derive(Clone, Copy, PartialEq)]
enum Catalog {
    /// Nothing (as many catalog replicas as the suite runs with).
    Left,
    /// Three catalog replicas; the leader is killed right after the sale, restarted later.
    LeaderKilled,
}

async fn scenario(election: Election, catalog: Catalog) {
    let marker = tempfile::tempdir().unwrap();
    let armed = format!("after-buy@{}", marker.path().join("fired").display());
    let tweak = |spec: &mut toystore_harness::ClusterSpec| {
        spec.env.push(("TOYSTORE_FAILPOINT".into(), armed));
        spec.config.order.complete_after = Duration::from_millis(500);
    };
    let node = env!("CARGO_BIN_EXE_toystore-node");
    let mut store = match catalog {
        Catalog::Left => start_in(node, election, tweak).await,
        Catalog::LeaderKilled => start_catalogs(node, 3, election, tweak).await,
    }
    .unwrap();
    let shop = store.shop.clone();
    let before = shop.quantity("Tux").await.unwrap();
    let leader = store.cluster.wait_leader(READY).await.unwrap();

    // Straight to the leader, so no front-end retries it: the leader dies after the buy.
    let sent = shop
        .http
        .post(format!("{}/internal/orders", shop.replica(leader)))
        .bearer_auth(&shop.token)
        .json(&serde_json::json!({"request_id": "orphan", "name": "Tux", "quantity": 2}))
        .send()
        .await;
    assert!(
        sent.is_err() || !sent.unwrap().status().is_success(),
        "the leader must crash before answering"
    );
    let cluster = &mut store.cluster;
    let exited = || std::future::ready((!cluster.is_running(Service::Order(leader))).then_some(()));
    poll_until(READY, "the failpoint did not fire", exited)
        .await
        .unwrap();
    let killed = match catalog {
        Catalog::Left => None,
        Catalog::LeaderKilled => {
            let leader = store.cluster.wait_catalog_leader(READY).await.unwrap();
            store.cluster.kill(Service::Catalog(leader)).await.unwrap();
            Some(leader)
        }
    };
    assert_eq!(
        shop.quantity("Tux").await.unwrap(),
        before - 2,
        "the catalog sold it"
    );

    // The next leader completes it, with nobody asking.
    let completed = poll_until(READY, "the purchase was not completed", || async {
        shop.order(0).await.ok()
    })
    .await;
    let order = match completed {
        Ok(order) => order,
        Err(e) => panic!("{e}: {:?}", shop.order(0).await),
    };
    assert_eq!(
        order,
        OrderRecord {
            number: 0.into(),
            name: "Tux".try_into().unwrap(),
            quantity: 2u32.try_into().unwrap()
        }
    );
    // A late retry of the key is the same order, and buys nothing more.
    assert_eq!(shop.buy("orphan", "Tux", 2).await, Ok(0));
    assert_eq!(shop.quantity("Tux").await.unwrap(), before - 2);

    store
        .cluster
        .restart(Service::Order(leader), READY)
        .await
        .unwrap();
    if let Some(id) = killed {
        store
            .cluster
            .restart(Service::Catalog(id), READY)
            .await
            .unwrap();
        store.cluster.converge(READY).await.unwrap();
    }
    shop.wait_converged(1, READY).await.unwrap();
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_a_purchase_left_without_an_order_is_completed() {
    scenario(Election::Frontend, Catalog::Left).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_purchase_left_without_an_order_is_completed_across_a_catalog_leader_kill() {
    scenario(Election::Raft, Catalog::LeaderKilled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_a_purchase_left_without_an_order_is_completed() {
    scenario(Election::Raft, Catalog::Left).await;
}
