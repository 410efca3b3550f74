//! Proves a stale leader (older epoch) cannot get its writes accepted by followers:
//! - at the protocol level, a replication push with an older epoch gets 409 and changes
//!   nothing;
//! - end to end, with no front-end to tell it anything: the leader is frozen (SIGSTOP),
//!   its followers are told directly that one of them leads a newer epoch, then the old
//!   leader is resumed and sent an order directly. It must not acknowledge it (the
//!   followers refuse its pushes, or the new leader's pushes depose it), the followers
//!   never hold it, and the old leader steps down, drops that never-acknowledged order and
//!   converges on the new leader's log.

#![allow(clippy::unwrap_used)]

use toystore_tests::{start_with, Shop, READY};
use toystore_tools::cluster::Service;

async fn announce(shop: &Shop, to: u32, epoch: u64, leader: u32) -> (u16, serde_json::Value) {
    let resp = shop
        .http
        .post(format!("{}/internal/leader", shop.replica(to)))
        .bearer_auth(&shop.token)
        .json(&serde_json::json!({"epoch": epoch, "leader": leader}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_leader_cannot_get_writes_accepted() {
    let mut store = start_with(env!("CARGO_BIN_EXE_toystore-node"), |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    shop.buy_until_placed("first", "Tux", 1, READY)
        .await
        .unwrap();
    let old = store.cluster.wait_leader(READY).await.unwrap();
    let epoch = shop.health(old).await.unwrap()["epoch"].as_u64().unwrap();
    let mut followers: Vec<u32> = store
        .cluster
        .replica_ids()
        .into_iter()
        .filter(|id| *id != old)
        .collect();
    followers.sort_unstable();
    let (low, high) = (followers[0], followers[1]);
    shop.wait_converged(1, READY).await.unwrap();

    // Protocol level: a push from an older epoch is refused and writes nothing.
    let stale_push = shop
        .http
        .post(format!("{}/internal/replicate", shop.replica(low)))
        .bearer_auth(&shop.token)
        .header("x-toystore-epoch", epoch - 1)
        .header("x-toystore-leader", old)
        .header("x-toystore-leader-last", 1)
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(stale_push.status().as_u16(), 409);
    assert_eq!(shop.health(low).await.unwrap()["last_seq"], 1);

    // End to end, with nobody to tell the old leader: no front-end, and it is frozen while
    // a follower is made leader of a newer epoch.
    store.cluster.kill(Service::Frontend).await.unwrap();
    store.cluster.pause(Service::Order(old)).unwrap();
    let (status, body) = announce(&shop, high, epoch + 1, high).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["role"], "leader");
    let (status, body) = announce(&shop, low, epoch + 1, high).await;
    assert_eq!(status, 200, "{body}");

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

    // The old leader steps down and converges on the new leader's log, which never held
    // the stale write.
    shop.wait_converged(1, READY).await.unwrap();
    let deposed = shop.health(old).await.unwrap();
    assert_eq!(deposed["role"], "follower", "{deposed}");
    assert_eq!(deposed["epoch"], epoch + 1, "{deposed}");
    let logs = store.stop_and_read_logs().await.unwrap();
    assert_eq!(logs[0], logs[1]);
    assert_eq!(logs[0], logs[2]);
    assert_eq!(logs[0].len(), 1);
    let only: toystore_events::OrderEvent = toystore_events::decode(&logs[0][0].1).unwrap();
    let toystore_events::OrderEvent::OrderPlaced { request_id, .. } = only;
    assert_eq!(request_id, "first");
    eprintln!(
        "stale leader {old} answered {status}; {high} leads epoch {}",
        epoch + 1
    );
}
