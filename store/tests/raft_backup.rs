//! Backups by reference (`RaftStore::view`) and seeding a new file from one
//! (`RaftStore::seed`):
//! (a) a view names the applied position and its events, and entries applied after it do not
//!     change what it reads;
//! (b) a file seeded from a view equals the source (events, projection, applied position),
//!     with the Raft log purged to the applied log id, a vote in that entry's term, the note
//!     of what it holds, and the rejoin mark only when asked;
//! (c) only a pristine file is seeded, and a copy that ends early is refused.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod raft_support;

use bytes::Bytes;
use futures_util::stream;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use raft_support::{dump, log_id, membership, open, purchase, raw_events, Purchases, Store};
use toystore_events::Seq;
use toystore_store::raft::Seeded;

async fn replica(path: &std::path::Path, n: u64) -> Store {
    let store = open(path);
    let mut entries = vec![membership(1, 1, &[1, 2, 3])];
    entries.extend((2..=n).map(|i| purchase(2, i, &format!("r{i}"), 1)));
    store.state_machine(Purchases).apply(entries).await.unwrap();
    store
}

fn note(last_seq: u64) -> Seeded {
    Seeded {
        from: "a test".into(),
        taken_at: 1,
        applied: "2-1-9".into(),
        last_seq,
    }
}

fn stored(store: &Store) -> Vec<Result<(Seq, Bytes), String>> {
    raw_events(store)
        .into_iter()
        .map(|(seq, bytes)| Ok((seq, Bytes::from(bytes))))
        .collect()
}

#[tokio::test]
async fn a_view_is_the_applied_position_and_stays_so() {
    let dir = tempfile::tempdir().unwrap();
    let empty = open(&dir.path().join("empty.redb"));
    assert!(empty.view().unwrap().is_none(), "nothing applied: no view");

    let store = replica(&dir.path().join("a.redb"), 9).await;
    let view = store.view().unwrap().unwrap();
    assert_eq!(view.meta.last_log_id, Some(log_id(2, 9)));
    assert_eq!(view.snapshot.last_seq(), Seq(8));
    // Applied after the view: the view still reads its own 8 events.
    store
        .state_machine(Purchases)
        .apply(vec![purchase(2, 10, "r10", 1)])
        .await
        .unwrap();
    let read: Vec<Seq> = view
        .snapshot
        .events_after(Seq::ZERO)
        .unwrap()
        .map(|e| e.unwrap().0)
        .collect();
    assert_eq!(read, (1..=8).map(Seq).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_seeded_file_equals_its_source_and_opens_as_an_installed_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let source = replica(&dir.path().join("a.redb"), 9).await;
    let view = source.view().unwrap().unwrap();
    for rejoin in [false, true] {
        let copy = open(&dir.path().join(format!("copy-{rejoin}.redb")));
        copy.seed(
            view.meta.clone(),
            Seq(8),
            stream::iter(stored(&source)),
            note(8),
            rejoin,
        )
        .await
        .unwrap();
        assert_eq!(dump(&copy), dump(&source));
        let (applied, membership) = copy.state_machine(Purchases).applied_state().await.unwrap();
        assert_eq!(applied, Some(log_id(2, 9)));
        assert_eq!(membership, view.meta.last_membership);
        let mut log = copy.log_store();
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(2, 9)));
        assert_eq!(state.last_log_id, Some(log_id(2, 9)));
        let vote = log.read_vote().await.unwrap().unwrap();
        assert_eq!(vote.leader_id().term, 2);
        assert!(!vote.is_committed());
        assert_eq!(copy.seeded().unwrap(), Some(note(8)));
        assert_eq!(copy.must_rejoin().unwrap(), rejoin);
        assert_eq!(copy.voter_floor().unwrap(), None);
        copy.rejoined(7).await.unwrap();
        assert!(!copy.must_rejoin().unwrap());
        assert_eq!(copy.voter_floor().unwrap(), Some(7));
    }
    assert_eq!(source.seeded().unwrap(), None);
}

#[tokio::test]
async fn only_a_pristine_file_is_seeded_and_only_with_the_whole_copy() {
    let dir = tempfile::tempdir().unwrap();
    let source = replica(&dir.path().join("a.redb"), 9).await;
    let view = source.view().unwrap().unwrap();
    let other = replica(&dir.path().join("b.redb"), 3).await;
    let refused = other
        .seed(
            view.meta.clone(),
            Seq(8),
            stream::iter(stored(&source)),
            note(8),
            false,
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("not empty"), "{refused}");

    let short = open(&dir.path().join("short.redb"));
    let mut events = stored(&source);
    events.truncate(5);
    let refused = short
        .seed(
            view.meta.clone(),
            Seq(8),
            stream::iter(events),
            note(8),
            false,
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("before"), "{refused}");
    let (applied, _) = short
        .state_machine(Purchases)
        .applied_state()
        .await
        .unwrap();
    assert_eq!(applied, None, "a copy that ended early applied nothing");
}
