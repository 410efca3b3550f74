//! The proposer on a one-replica Raft cluster: concurrent purchases share entries, each
//! caller gets its own purchase's outcome, and the state machine's per-purchase rules hold
//! inside one entry (a repeated request id names one order; a reused one is refused); and
//! the confirmer beside it, on openraft's own confirmation: concurrent linearizable reads
//! share rounds (that a read waits for a round begun after it arrived is the confirmer's
//! unit test, `raft/src/confirmer.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use openraft::BasicNode;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use toystore_events::Purchase;
use toystore_order::proposer::ProposeError;
use toystore_order::types::{OrderNode, Outcome};

async fn one_node(dir: &std::path::Path) -> OrderNode {
    let (_store, raft) = support::raft_node(&dir.join("order-1.redb"), 1).await;
    let members = BTreeMap::from([(1, BasicNode::new("127.0.0.1:1"))]);
    toystore_raft::founding::initialize(&raft, members)
        .await
        .unwrap();
    raft.trigger().elect().await.unwrap();
    raft.wait(Some(Duration::from_secs(10)))
        .state(openraft::ServerState::Leader, "leads")
        .await
        .unwrap();
    raft
}

fn purchase(key: &str, quantity: u32) -> Purchase {
    Purchase {
        request_id: key.try_into().unwrap(),
        name: "Tux".try_into().unwrap(),
        quantity: quantity.try_into().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_purchases_share_entries_and_each_gets_its_own_number() {
    let dir = tempfile::tempdir().unwrap();
    let raft = one_node(dir.path()).await;
    let disk = toystore_raft::disk::Disk::new(dir.path(), 0);
    let proposer = toystore_order::proposer::start(raft.clone(), Duration::from_secs(10), disk);
    let before = raft.metrics().borrow().last_log_index.unwrap_or(0);

    let n = 400;
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let p = proposer.clone();
            tokio::spawn(async move { p.propose(purchase(&format!("k{i}"), 1)).await })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for t in tasks {
        match t.await.unwrap().unwrap() {
            Outcome::Placed { number, new: true } => assert!(numbers.insert(number.get())),
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(
        numbers,
        (0..n).collect::<BTreeSet<u64>>(),
        "gap-free, one each"
    );
    let entries = raft.metrics().borrow().last_log_index.unwrap_or(0) - before;
    assert!(
        entries < n / 2,
        "{n} concurrent purchases took {entries} entries: not batched"
    );
    raft.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_entry_applies_its_purchases_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let raft = one_node(dir.path()).await;
    // Straight through Raft, so the three purchases are certainly in one entry.
    let reply = raft
        .client_write(toystore_order::types::Proposal {
            purchases: vec![purchase("a", 1), purchase("a", 1), purchase("a", 2)],
        })
        .await
        .unwrap();
    assert_eq!(
        reply.data.0,
        vec![
            Outcome::Placed {
                number: 0.into(),
                new: true
            },
            Outcome::Placed {
                number: 0.into(),
                new: false
            },
            Outcome::KeyReused { number: 0.into() },
        ]
    );
    // Through the proposer, the same request id finds the same order.
    let disk = toystore_raft::disk::Disk::new(dir.path(), 0);
    let proposer = toystore_order::proposer::start(raft.clone(), Duration::from_secs(10), disk);
    assert_eq!(
        proposer.propose(purchase("a", 1)).await.unwrap(),
        Outcome::Placed {
            number: 0.into(),
            new: false
        }
    );
    raft.shutdown().await.unwrap();
    // A stopped Raft refuses; the caller hears it instead of waiting for ever.
    let refused = tokio::time::timeout(Duration::from_secs(10), proposer.propose(purchase("b", 1)))
        .await
        .expect("the proposer answered");
    assert!(
        matches!(refused, Err(ProposeError::Unavailable(_))),
        "{refused:?}"
    );
}

/// One thread, so that the reads all queue before the confirmer runs (on two worker
/// threads, a busy machine could let it take each read alone as it arrived).
#[tokio::test(flavor = "current_thread")]
async fn concurrent_reads_share_confirmation_rounds() {
    let dir = tempfile::tempdir().unwrap();
    let raft = one_node(dir.path()).await;
    let confirmer = toystore_raft::confirmer::Confirmer::start(raft.clone());
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(10);
    confirmer.confirm(deadline()).await.unwrap();
    assert_eq!(confirmer.rounds(), 1, "a lone read is one round");
    let reads = (0..64).map(|_| confirmer.confirm(deadline()));
    for read in futures_util::future::join_all(reads).await {
        read.unwrap();
    }
    let rounds = confirmer.rounds() - 1;
    assert!(
        (1..64).contains(&rounds),
        "64 concurrent reads took {rounds} rounds"
    );
    // A read after those is a round of its own.
    confirmer.confirm(deadline()).await.unwrap();
    assert_eq!(confirmer.rounds(), rounds + 2);
    raft.shutdown().await.unwrap();
}
