//! A replica told to campaign that loses its peers mid-way (they are frozen with SIGSTOP
//! while its vote requests are out, so none is answered) is never left stuck: once the
//! peers are back, every replica ends up a follower or the leader of one term, the store
//! sells again and every replica converges. In `frontend` mode the front-end (stopped
//! during the fault, so that only the campaign acts) is what starts the next election; in
//! `raft` mode the replicas do it themselves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use toystore_config::ClusterToken;
use toystore_harness::Service;
use toystore_order_api::ReplicaClient;
use toystore_tests::{start_in, Election, Shop, READY};

/// The role, term and known leader a replica reported (`"down"` if it did not answer).
fn role(h: &Option<serde_json::Value>) -> (String, Option<u64>, Option<u64>) {
    h.as_ref().map_or(("down".into(), None, None), |h| {
        (
            h["role"].as_str().unwrap_or("?").to_string(),
            h["term"].as_u64(),
            h["leader"].as_u64(),
        )
    })
}

/// The leader and term if one replica of `ids` leads and every other follows it in its term.
fn settled(ids: &[u32], said: &[Option<serde_json::Value>]) -> Option<(u32, u64)> {
    let roles: Vec<_> = said.iter().map(role).collect();
    let leaders: Vec<usize> = (0..roles.len())
        .filter(|i| roles[*i].0 == "leader")
        .collect();
    let [l] = leaders[..] else { return None };
    let term = roles[l].1;
    roles
        .iter()
        .all(|(role, t, leader)| {
            (role == "leader" || role == "follower")
                && *t == term
                && *leader == Some(u64::from(ids[l]))
        })
        .then(|| (ids[l], term.unwrap_or(0)))
}

/// Waits until one replica leads and every other follows it, in one term.
async fn wait_settled(shop: &Shop, ids: &[u32]) -> (u32, u64) {
    let said = shop
        .wait_health(ids, READY, |said| settled(ids, said).is_some())
        .await
        .unwrap();
    settled(ids, &said).unwrap()
}

async fn scenario(election: Election) {
    let mut store = start_in(env!("CARGO_BIN_EXE_toystore-node"), election, |_| {})
        .await
        .unwrap();
    let shop = store.shop.clone();
    shop.buy_until_placed("before", "Tux", 1, READY)
        .await
        .unwrap();
    let ids = store.cluster.replica_ids();
    let (leader, term) = wait_settled(&shop, &ids).await;

    // Only the campaign acts: no front-end during the fault.
    store.cluster.kill(Service::Frontend).await.unwrap();
    let candidate = *ids.iter().find(|id| **id != leader).unwrap();
    let others: Vec<u32> = ids.iter().copied().filter(|id| *id != candidate).collect();
    for id in &others {
        store.cluster.pause(Service::Order(*id)).unwrap();
    }
    let token = ClusterToken::new(shop.token.clone()).unwrap();
    let client = ReplicaClient::new(candidate, &shop.replica(candidate), token).unwrap();
    client.campaign().await.unwrap();
    // Its vote requests go unanswered for a while, then the peers come back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = shop.health(candidate).await.unwrap();
    assert!(
        during["term"].as_u64() > Some(term),
        "the campaign did not start: {during}"
    );
    for id in &others {
        store.cluster.resume(Service::Order(*id)).unwrap();
    }

    store.cluster.spawn(Service::Frontend).unwrap();
    store
        .cluster
        .wait_healthy(Service::Frontend, READY)
        .await
        .unwrap();
    shop.buy_until_placed("after", "Tux", 1, READY)
        .await
        .unwrap();
    let (_, new_term) = wait_settled(&shop, &ids).await;
    assert!(new_term > term, "no election happened");
    shop.wait_converged(2, READY).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frontend_election_a_cut_off_campaign_is_never_stuck() {
    scenario(Election::Frontend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn raft_election_a_cut_off_campaign_is_never_stuck() {
    scenario(Election::Raft).await;
}
