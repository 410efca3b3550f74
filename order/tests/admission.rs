//! The phantom vote of a replica admitted from its group's founding
//! (`toystore_raft::founding`, docs/DESIGN.md "Initial membership, and a replica that lost
//! its log"), on a real Raft node: after it, the node refuses every vote request of that
//! term or below, grants one above it, and the vote is in its storage (so a restart keeps
//! it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use openraft::raft::VoteRequest;
use openraft::{BasicNode, Vote};
use std::collections::BTreeMap;
use std::time::Duration;
use toystore_raft::founding::{standing, vote_phantom};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_phantom_vote_no_vote_of_its_term_or_below_is_granted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, raft) = support::raft_node(&dir.path().join("order-3.redb"), 3).await;
    // Its peers are unreachable: its own campaign (term 1, by `initialize`) goes nowhere.
    let members: BTreeMap<u32, BasicNode> = (1..=3)
        .map(|id| (id, BasicNode::new("127.0.0.1:9")))
        .collect();
    toystore_raft::founding::initialize(&raft, members)
        .await
        .unwrap();
    // Its log: the founding entry alone.
    raft.wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.last_log_index == Some(0), "the founding entry")
        .await
        .unwrap();
    let last_log_id = Some(openraft::LogId::default());

    vote_phantom(&raft, 3, last_log_id).await.unwrap();
    let ask = |term: u64, candidate: u32| {
        let raft = raft.clone();
        async move {
            raft.vote(VoteRequest::new(Vote::new(term, candidate), last_log_id))
                .await
                .unwrap()
                .vote_granted
        }
    };
    assert!(!ask(2, 2).await, "a term below the phantom's");
    assert!(!ask(3, 2).await, "the phantom's term, another candidate");
    assert!(!ask(3, 1).await, "the phantom's term, another candidate");
    assert!(ask(4, 1).await, "a term above it");
    let standing = standing(&store).await.unwrap();
    assert_eq!(
        standing.term, 4,
        "the votes are in the storage: {standing:?}"
    );
    raft.shutdown().await.unwrap();
}
