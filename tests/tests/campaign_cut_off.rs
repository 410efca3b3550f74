//! A replica told to campaign that loses its peers mid-way (they are frozen with SIGSTOP
//! while its vote requests are out, so none is answered) is never left stuck: once the
//! peers are back, every replica ends up a follower or the leader of one term, the store
//! sells again and every replica converges. In `frontend` mode the front-end (stopped
//! during the fault, so that only the campaign acts) is what starts the next election; in
//! `raft` mode the replicas do it themselves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use toystore_harness::Service;
use toystore_order_api::{ReplicaStatus, Role};
use toystore_tests::{start_in, Election, Shop, READY};

/// The leader and term if one replica of `ids` leads and every other follows it in its
/// term (each of them answering). Stricter than `toystore_order_api::leader`, which only
/// says who leads: here the whole cluster must have settled on it.
fn settled(ids: &[u32], said: &[Option<ReplicaStatus>]) -> Option<(u32, u64)> {
    let leads = |h: &Option<ReplicaStatus>| h.as_ref().is_some_and(|h| h.role == Role::Leader);
    let mut leading = (0..said.len()).filter(|i| leads(&said[*i]));
    let (Some(l), None) = (leading.next(), leading.next()) else {
        return None;
    };
    let (id, term) = (ids[l], said[l].as_ref()?.term);
    said.iter()
        .all(|h| {
            h.as_ref().is_some_and(|h| {
                matches!(h.role, Role::Leader | Role::Follower)
                    && h.term == term
                    && h.leader == Some(id)
            })
        })
        .then_some((id, term))
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
    let client = shop.replica_client(candidate).unwrap();
    client.campaign().await.unwrap();
    // Its vote requests go unanswered for a while (the fault's length, not a wait for
    // something to hold), then the peers come back.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = shop.health(candidate).await.unwrap();
    assert!(during.term > term, "the campaign did not start: {during:?}");
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
