//! A replica whose file was wiped, restarted under its old id, never votes as the member it
//! was (issue 26, docs/DESIGN.md "A replica that lost its log").
//!
//! The unlucky ordering: orders are committed on {A, B} while C is down; then A and B stop,
//! B's file is wiped, and B and C start. C lacks those orders and campaigns; B's empty log
//! would grant it a vote, C would lead, and A's orders would be overwritten once A is back.
//! With the admission rule, B refuses to vote until the leader has taken it out of the
//! voters, so C campaigns in vain. Once A is back, A and C elect a leader that takes B out,
//! adds it back as a learner, and makes it a voter once caught up: every order is there
//! and the replicas' files end equal. Both election policies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use toystore_harness::Service;
use toystore_order_api::{ReplicaStatus, Role};
use toystore_tests::{buying_clients, start_in, Election, OrderRecord, Store, READY};

/// Orders committed while one replica is down.
const ORDERS: u64 = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_a_wiped_replica_never_votes_for_a_candidate_without_the_orders() {
    scenario(Election::Raft).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_a_wiped_replica_never_votes_for_a_candidate_without_the_orders() {
    scenario(Election::Frontend).await;
}

fn term(said: &Option<ReplicaStatus>) -> u64 {
    said.as_ref().map_or(0, |s| s.term)
}

async fn scenario(election: Election) {
    let mut store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |_| {})
        .await
        .unwrap();
    let a = store.cluster.wait_leader(READY).await.unwrap();
    let others: Vec<u32> = store
        .cluster
        .replica_ids()
        .into_iter()
        .filter(|id| *id != a)
        .collect();
    let (b, c) = (others[0], others[1]);

    // Orders on {A, B} only.
    store.cluster.kill(Service::Order(c)).await.unwrap();
    for i in 0..ORDERS {
        let (number, _) = store
            .shop
            .buy_until_placed(&format!("on-a-and-b-{i}"), "Tux", 1, READY)
            .await
            .unwrap();
        assert_eq!(number, i);
    }
    let before = store.shop.health(a).await.unwrap().term;

    // A and B stop; B's file is wiped; B and C start without A.
    store.cluster.kill(Service::Order(a)).await.unwrap();
    store.cluster.kill(Service::Order(b)).await.unwrap();
    std::fs::remove_file(store.order_db(b)).unwrap();
    store.cluster.spawn(Service::Order(b)).unwrap();
    store.cluster.spawn(Service::Order(c)).unwrap();

    // C campaigns (on its own, or asked by the front-end) at least twice, and never leads:
    // B, whose log is empty, refuses to vote. (Waits for either, so that a C that leads
    // fails the test at once.)
    let said = store
        .shop
        .wait_health(&[b, c], READY, |said| {
            let c_leads = said[1].as_ref().is_some_and(|s| s.role == Role::Leader);
            said.iter().all(Option::is_some) && (c_leads || term(&said[1]) >= before + 2)
        })
        .await
        .unwrap();
    let (b_said, c_said) = (said[0].clone().unwrap(), said[1].clone().unwrap());
    assert_ne!(
        c_said.role,
        Role::Leader,
        "C led without A's orders: {c_said:?}"
    );
    assert_eq!(b_said.term, 0, "the wiped replica voted: {b_said:?}");
    assert!(
        b_said.voters.is_empty(),
        "the wiped replica holds a membership: {b_said:?}"
    );
    assert!(
        !b_said.ready,
        "the wiped replica says it is ready: {b_said:?}"
    );

    // A is back: A and C elect, the leader takes B out and brings it back; every order is
    // there and B is a voter again, caught up.
    store
        .cluster
        .restart(Service::Order(a), READY)
        .await
        .unwrap();
    store.shop.wait_converged(ORDERS, READY).await.unwrap();
    let b_said = store.shop.health(b).await.unwrap();
    assert_eq!(b_said.voters.len(), 3, "B is not a voter again: {b_said:?}");
    for n in 0..ORDERS {
        assert_eq!(
            store.shop.order(n).await,
            Ok(OrderRecord {
                number: n.into(),
                name: "Tux".try_into().unwrap(),
                quantity: 1u32.try_into().unwrap(),
            }),
            "order {n} is lost"
        );
    }
    let (number, _) = store
        .shop
        .buy_until_placed("after", "Tux", 1, READY)
        .await
        .unwrap();
    assert_eq!(number, ORDERS);
    store.shop.wait_converged(ORDERS + 1, READY).await.unwrap();
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0], logs[1], "replicas' files differ");
    assert_eq!(logs[0], logs[2], "replicas' files differ");
}

/// A wiped replica that rejoins receives the log from its start, and the group's older
/// membership entries in it list it as a voter. It must not say it is ready (to the
/// front-end, the harness's fault injection, a readiness probe) until the leader has made it
/// a voter again: a fault injected on another replica while it is still a learner would
/// leave a group of two that cannot take a second lost replica out (what a chaos run met).
/// Enough orders first that its catch-up takes several batches of entries; its health is
/// polled all along. Then again, killed and restarted in the middle of its catch-up: its
/// file then holds a prefix of the log and its voter floor, which must hold across the
/// restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejoining_replica_is_not_ready_before_it_is_a_voter_again() {
    const CLIENTS: usize = 8;
    const PER_CLIENT: usize = 150;
    let orders = (CLIENTS * PER_CLIENT) as u64;
    let mut store = start_in(
        env!("CARGO_BIN_EXE_toystore-node"),
        Election::Raft,
        |spec| {
            spec.config.catalog.stock = 100_000;
            // The whole log is sent, no snapshot: it replays every membership entry.
            spec.config.order.snapshot_every = 100_000;
        },
    )
    .await
    .unwrap();
    let leader = store.cluster.wait_leader(READY).await.unwrap();
    let placed = Arc::new(AtomicU64::new(0));
    let toys = &["Tux", "Whale", "Uno", "Jenga"];
    for client in buying_clients(&store.shop, CLIENTS, PER_CLIENT, toys, &placed) {
        client.await.unwrap();
    }
    store.shop.wait_converged(orders, READY).await.unwrap();
    let b = store
        .cluster
        .replica_ids()
        .into_iter()
        .find(|id| *id != leader)
        .unwrap();

    rejoin_and_watch(&mut store, leader, b, false).await;
    // Restarted mid-way: tried until it was seen in the middle of its catch-up (a window of
    // a hundred polls or more on this project's machines).
    let mut restarted = false;
    for _ in 0..3 {
        restarted = rejoin_and_watch(&mut store, leader, b, true).await;
        if restarted {
            break;
        }
    }
    assert!(restarted, "B was never seen in the middle of its catch-up");

    store.shop.wait_converged(orders, READY).await.unwrap();
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0], logs[1], "replicas' files differ");
    assert_eq!(logs[0], logs[2], "replicas' files differ");
}

/// Wipes replica `b`'s file and restarts it, then polls its health every 2 ms until it says
/// it is ready, which it may only say once it holds entries written after everything the
/// leader held when it was wiped (the entries that made it a voter again). With
/// `restart_mid_way`, kills and restarts it once when it is seen holding part of the log;
/// returns whether it was.
async fn rejoin_and_watch(store: &mut Store, leader: u32, b: u32, restart_mid_way: bool) -> bool {
    let written = store
        .shop
        .health(leader)
        .await
        .and_then(|s| s.last_log_index)
        .unwrap();
    store.cluster.kill(Service::Order(b)).await.unwrap();
    std::fs::remove_file(store.order_db(b)).unwrap();
    store.cluster.spawn(Service::Order(b)).unwrap();

    let deadline = tokio::time::Instant::now() + READY;
    let (mut asked, mut restarted) = (0u32, false);
    let ready = loop {
        assert!(tokio::time::Instant::now() < deadline, "B never got ready");
        if let Some(said) = store.shop.health(b).await {
            asked += 1;
            if said.ready {
                break said;
            }
            let partway = said.last_log_index.is_some_and(|i| i < written);
            if restart_mid_way && !restarted && partway {
                store.cluster.kill(Service::Order(b)).await.unwrap();
                store.cluster.spawn(Service::Order(b)).unwrap();
                restarted = true;
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    // Made a voter again by entries written after every one the leader held: it holds them.
    assert!(
        ready.last_log_index.is_some_and(|i| i > written),
        "B said it was ready at entry {:?} of {written} (asked {asked} times, restarted \
         mid-way: {restarted}): {ready:?}",
        ready.last_log_index
    );
    assert_eq!(ready.voters.len(), 3, "{ready:?}");
    restarted
}
