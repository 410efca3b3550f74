//! Proves a stale leader (older epoch) cannot get its writes accepted by followers:
//! - at the protocol level, a replication push with an older epoch gets 409 and changes
//!   nothing;
//! - end to end, a leader frozen (SIGSTOP) long enough to be replaced, then resumed and
//!   sent an order directly, does not acknowledge it; the followers never hold it; the old
//!   leader steps down, drops that never-acknowledged order, and all replicas converge on
//!   identical logs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use toystore_tests::{start_with, READY};
use toystore_tools::cluster::Service;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_leader_cannot_get_writes_accepted() {
    let mut store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    shop.buy_until_placed("first", "Tux", 1, READY)
        .await
        .unwrap();
    let old = store.cluster.leader().await.unwrap();
    let old_epoch = shop.health(old).await.unwrap()["epoch"].as_u64().unwrap();
    let follower = store
        .cluster
        .replica_ids()
        .into_iter()
        .find(|id| *id != old)
        .unwrap();
    shop.wait_converged(1, READY).await.unwrap();

    // Protocol level: a push from an older epoch is refused and writes nothing.
    let stale_push = shop
        .http
        .post(format!("{}/internal/replicate", shop.replica(follower)))
        .bearer_auth(&shop.token)
        .header("x-toystore-epoch", old_epoch - 1)
        .header("x-toystore-leader", old)
        .header("x-toystore-leader-last", 1)
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(stale_push.status().as_u16(), 409);
    assert_eq!(shop.health(follower).await.unwrap()["last_seq"], 1);

    // End to end: freeze the leader until the front-end has replaced it.
    store.cluster.pause(Service::Order(old)).unwrap();
    let deadline = tokio::time::Instant::now() + READY;
    let new = loop {
        if let Some(l) = store.cluster.leader().await.filter(|l| *l != old) {
            break l;
        }
        assert!(tokio::time::Instant::now() < deadline, "no new leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Stop the front-end so nothing tells the old leader about the new epoch but the
    // followers' refusals.
    store.cluster.kill(Service::Frontend).await.unwrap();
    store.cluster.resume(Service::Order(old)).unwrap();
    let direct = shop
        .http
        .post(format!("{}/internal/orders", shop.replica(old)))
        .bearer_auth(&shop.token)
        .json(&serde_json::json!({"request_id": "stale-write", "name": "Uno", "quantity": 1}))
        .send()
        .await
        .unwrap();
    let status = direct.status().as_u16();
    let body: serde_json::Value = direct.json().await.unwrap();
    assert_ne!(status, 200, "a stale leader must not acknowledge: {body}");

    // The new leader's log (and so every converged log) never holds the stale write.
    store.cluster.spawn(Service::Frontend).unwrap();
    store
        .cluster
        .wait_healthy(Service::Frontend, READY)
        .await
        .unwrap();
    shop.wait_converged(1, READY).await.unwrap();
    // (The restarted front-end may pick the old leader again: it is ready and has the
    // highest id. What matters is that it dropped the stale write.)
    eprintln!("stale leader answered {status}; replaced by {new}");
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
    assert_eq!(logs[0].len(), 1);
    let only: toystore_events::OrderEvent = toystore_events::decode(&logs[0][0].1).unwrap();
    let toystore_events::OrderEvent::OrderPlaced { request_id, .. } = only;
    assert_eq!(request_id, "first");
}
