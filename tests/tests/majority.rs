//! Proves the leader acknowledges an order only once a majority of replicas hold it: with
//! both followers down, a purchase is not acknowledged (the client gets 503 when the
//! front-end's failover time runs out) even though the leader holds it; once one follower
//! is back, a retry with the same key returns that very order, and stock dropped once.

#![allow(clippy::unwrap_used)]

use std::time::Duration;
use toystore_harness::probe::poll_until;
use toystore_harness::Service;
use toystore_tests::{start_in, Election, FrontendError, OrderRecord, READY};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_no_acknowledgement_without_a_majority() {
    scenario(Election::Frontend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_no_acknowledgement_without_a_majority() {
    scenario(Election::Raft).await;
}

async fn scenario(election: Election) {
    let mut store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |spec| {
        spec.config.frontend.failover_timeout = Duration::from_secs(2);
    })
    .await
    .unwrap();
    let shop = store.shop.clone();
    let before = shop.quantity("Slinky").await.unwrap();
    let leader = store.cluster.wait_leader(READY).await.unwrap();
    let followers: Vec<u32> = store
        .cluster
        .replica_ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();
    for f in &followers {
        store.cluster.kill(Service::Order(*f)).await.unwrap();
    }

    assert_eq!(
        shop.buy("alone", "Slinky", 2).await,
        Err(FrontendError::Unavailable {
            status: 503,
            message: "order service unavailable".into()
        }),
        "a leader alone must not acknowledge"
    );

    store
        .cluster
        .restart(Service::Order(followers[0]), READY)
        .await
        .unwrap();
    let (number, _) = shop
        .buy_until_placed("alone", "Slinky", 2, READY)
        .await
        .unwrap();
    assert_eq!(number, 0);
    assert_eq!(
        shop.order(0).await,
        Ok(OrderRecord {
            number: 0.into(),
            name: "Slinky".try_into().unwrap(),
            quantity: 2u32.try_into().unwrap()
        })
    );
    poll_until(
        Duration::from_secs(10),
        "stock must drop exactly once",
        || async { (shop.quantity("Slinky").await.unwrap() == before - 2).then_some(()) },
    )
    .await
    .unwrap();
}
