//! Crashes the leader at exact places of a purchase (failpoints compiled into the test
//! node binary) and proves the front-end's retry with the same request id yields exactly
//! one order and stock drops exactly once:
//! - after the catalog buy, before the order is proposed to Raft;
//! - after the order is committed on a majority and applied, before it is answered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use toystore_harness::probe::poll_until;
use toystore_harness::Service;
use toystore_tests::{assert_gap_free, start_in, Election, READY};

async fn crash_at(failpoint: &str, election: Election) {
    // Arm every replica, once for all of them: whichever leads crashes, the next does not.
    let marker = tempfile::tempdir().unwrap();
    let armed = format!("{failpoint}@{}", marker.path().join("fired").display());
    let mut store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |spec| {
        spec.env.push(("TOYSTORE_FAILPOINT".into(), armed));
    })
    .await
    .unwrap();
    store.cluster.wait_leader(READY).await.unwrap();
    let before = store.shop.quantity("Tux").await.unwrap();

    assert_eq!(
        store.shop.buy("crash-key", "Tux", 3).await,
        Ok(0),
        "the front-end fails over transparently"
    );
    // The failpoint crashed whichever replica led when the purchase arrived (the
    // front-end's view of the leader may change under load, so it is not assumed).
    let crashed: Vec<u32> = store
        .cluster
        .replica_ids()
        .into_iter()
        .filter(|id| !store.cluster.is_running(Service::Order(*id)))
        .collect();
    assert_eq!(
        crashed.len(),
        1,
        "the failpoint crashed the leader: {crashed:?}"
    );
    let leader = crashed[0];

    // The retry of the same key (a client retrying after a lost reply) is the same order.
    assert_eq!(store.shop.buy("crash-key", "Tux", 3).await, Ok(0));
    assert_eq!(store.shop.buy("next-key", "Uno", 1).await, Ok(1));

    let shop = &store.shop;
    poll_until(
        Duration::from_secs(10),
        "Tux stock must drop exactly once by 3",
        || async { (shop.quantity("Tux").await.unwrap() == before - 3).then_some(()) },
    )
    .await
    .unwrap();

    // The crashed replica comes back (the failpoint has fired) and converges on the same
    // two orders.
    store
        .cluster
        .restart(Service::Order(leader), READY)
        .await
        .unwrap();
    store.shop.wait_converged(2, READY).await.unwrap();
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
    let events: Vec<_> = logs[0]
        .iter()
        .map(|(_, b)| toystore_events::decode(b).unwrap())
        .collect();
    assert_gap_free(&events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_leader_crash_between_catalog_buy_and_propose_yields_one_order() {
    crash_at("after-buy", Election::Frontend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_leader_crash_between_commit_and_reply_yields_one_order() {
    crash_at("after-commit", Election::Frontend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_leader_crash_between_catalog_buy_and_propose_yields_one_order() {
    crash_at("after-buy", Election::Raft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_leader_crash_between_commit_and_reply_yields_one_order() {
    crash_at("after-commit", Election::Raft).await;
}
