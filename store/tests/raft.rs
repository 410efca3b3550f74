//! The Raft storage's own guarantees, beyond openraft's suite:
//! (a) vote, log entries, committed and purged log ids survive closing and reopening the file,
//!     and a truncation is durable too;
//! (b) applying purchases with the example applier gives gap-free order numbers (number n is
//!     the event at seq n + 1), a request id already placed answers its number without a new
//!     event, blank and membership entries only move last applied and membership, and a
//!     failing entry writes nothing (no event, no projection row, last applied unchanged);
//! (c) a snapshot built on one replica and installed on a fresh one (and on one that is behind,
//!     and on one whose events diverged) gives byte-identical events, the same projection rows
//!     and the same last applied and membership; the current snapshot survives a reopen; a
//!     snapshot that does not match its metadata is refused;
//! (d) purging after a snapshot leaves the state machine as it was and the log state reports
//!     the last purged log id;
//! (e) appended entries are readable before their commit, `LogFlushed` fires only after it, and
//!     appends queued together commit together and are there after a reopen;
//! (f) a failed group commit fails the appends in it (their `LogFlushed` reports the error)
//!     and later log writes are refused until the file is reopened;
//! (g) an order log from before Raft is refused, not adopted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod raft_support;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{
    Entry, ErrorSubject, LogState, RaftLogReader, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StoredMembership, Vote,
};
use raft_support::{
    blank, dump, events, log_id, membership, open, purchase, raw_events, Orders, Purchases, Reply,
    Store, TestConfig,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;
use toystore_events::{OrderEvent, Seq};
use toystore_store::{EventLog, StoreError};

type Entries = Vec<Entry<TestConfig>>;

/// The log entries `1..=n`: a membership entry, then purchases `r1, r2, ...` in term 2.
fn some_log(n: u64) -> Entries {
    let mut out = vec![membership(1, 1, &[1, 2, 3])];
    out.extend((2..=n).map(|i| purchase(2, i, &format!("r{i}"), 1 + i as u32 % 3)));
    out
}

fn indexes(entries: &[Entry<TestConfig>]) -> Vec<u64> {
    entries.iter().map(|e| e.log_id.index).collect()
}

fn applied_numbers(replies: &[Reply]) -> Vec<(u64, bool)> {
    replies
        .iter()
        .filter_map(|r| match r {
            Reply::Placed { number, new } => Some((*number, *new)),
            Reply::Nothing => None,
        })
        .collect()
}

#[tokio::test]
async fn vote_log_committed_and_purged_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replica.redb");
    let entries = some_log(12);
    {
        let store = open(&path);
        let mut log = store.log_store();
        assert_eq!(log.read_vote().await.unwrap(), None);
        assert_eq!(log.get_log_state().await.unwrap(), LogState::default());
        log.save_vote(&Vote::new(2, 3)).await.unwrap();
        log.blocking_append(entries.clone()).await.unwrap();
        log.truncate(log_id(2, 11)).await.unwrap();
        log.purge(log_id(2, 3)).await.unwrap();
        log.save_committed(Some(log_id(2, 9))).await.unwrap();
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(2, 9)));
    }
    let store = open(&path);
    let mut log = store.log_store();
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(2, 3)));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(2, 9)));
    assert_eq!(
        log.get_log_state().await.unwrap(),
        LogState {
            last_purged_log_id: Some(log_id(2, 3)),
            last_log_id: Some(log_id(2, 10)),
        }
    );
    let read = log.try_get_log_entries(0..100).await.unwrap();
    assert_eq!(indexes(&read), (4..=10).collect::<Vec<_>>());
    assert_eq!(read, entries[3..10].to_vec());
    let mut reader = log.get_log_reader().await;
    let some = reader.try_get_log_entries(5..=6).await.unwrap();
    assert_eq!(some, entries[4..6].to_vec());
    assert!(reader.try_get_log_entries(20..).await.unwrap().is_empty());

    // A vote saved later replaces the earlier one, durably.
    log.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
    drop((log, reader, store));
    let mut log = open(&path).log_store();
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(Vote::new_committed(3, 1))
    );
}

#[tokio::test]
async fn applying_purchases_numbers_orders_without_gaps_and_dedups_request_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replica.redb");
    let store = open(&path);
    let mut sm = store.state_machine(Purchases);
    assert_eq!(
        sm.applied_state().await.unwrap(),
        (None, StoredMembership::default())
    );

    let replies = sm
        .apply(vec![
            blank(1, 1),
            membership(1, 2, &[1, 2]),
            purchase(1, 3, "a", 2),
            purchase(1, 4, "b", 1),
            purchase(1, 5, "a", 2), // a retry of "a"
            purchase(1, 6, "c", 7),
        ])
        .await
        .unwrap();
    assert_eq!(replies.len(), 6);
    assert_eq!(replies[0], Reply::Nothing);
    assert_eq!(replies[1], Reply::Nothing);
    assert_eq!(
        applied_numbers(&replies),
        vec![(0, true), (1, true), (0, false), (2, true)]
    );
    // One apply per call too: the next purchase continues the numbering.
    let replies = sm.apply(vec![purchase(2, 7, "d", 1)]).await.unwrap();
    assert_eq!(applied_numbers(&replies), vec![(3, true)]);
    let replies = sm.apply(vec![purchase(2, 8, "b", 1)]).await.unwrap();
    assert_eq!(applied_numbers(&replies), vec![(1, false)]);

    let evs = events(&store);
    let summary: Vec<(u64, u64, String)> = evs
        .iter()
        .map(
            |(
                seq,
                OrderEvent::OrderPlaced {
                    number, request_id, ..
                },
            )| { (seq.0, number.get(), request_id.to_string()) },
        )
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, 0, "a".to_string()),
            (2, 1, "b".to_string()),
            (3, 2, "c".to_string()),
            (4, 3, "d".to_string())
        ]
    );
    assert_eq!(store.event_log().last_seq(), Seq(4));
    assert_eq!(
        dump(&store),
        vec![
            "order 0 toy3 2",
            "order 1 toy4 1",
            "order 2 toy1 7",
            "order 3 toy2 1",
            "request a 0",
            "request b 1",
            "request c 2",
            "request d 3",
        ]
    );
    let (applied, members) = sm.applied_state().await.unwrap();
    assert_eq!(applied, Some(log_id(2, 8)));
    assert_eq!(members.log_id(), &Some(log_id(1, 2)));
    assert_eq!(
        members.membership().voter_ids().collect::<BTreeSet<_>>(),
        BTreeSet::from([1, 2])
    );

    // A failing entry (0 units) aborts its whole apply: the good purchase before it in the same
    // call is not written either, and last applied stays where it was.
    let err = sm
        .apply(vec![purchase(2, 9, "e", 1), purchase(2, 10, "f", 0)])
        .await
        .unwrap_err();
    let subject = format!("{:?}", ErrorSubject::Apply(log_id(2, 10)));
    match &err {
        StorageError::IO { source } => assert!(format!("{source:?}").contains(&subject), "{err}"),
        other => panic!("expected an IO error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("an invalid purchase: quantity must be"),
        "{err}"
    );
    assert_eq!(events(&store).len(), 4);
    assert_eq!(dump(&store).len(), 8);
    assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(2, 8)));

    // Everything applied is durable.
    drop((sm, store));
    let store = open(&path);
    let mut sm = store.state_machine(Purchases);
    assert_eq!(events(&store), evs);
    assert_eq!(sm.applied_state().await.unwrap(), (applied, members));
    let replies = sm.apply(vec![purchase(2, 9, "e", 1)]).await.unwrap();
    assert_eq!(applied_numbers(&replies), vec![(4, true)]);
}

/// Applies `entries` on a fresh replica at `path`.
async fn replica_with(path: &Path, entries: Entries) -> Store {
    let store = open(path);
    store.state_machine(Purchases).apply(entries).await.unwrap();
    store
}

/// Everything the state machine holds, for comparing replicas.
async fn state_of(
    store: &Store,
) -> (
    Vec<(Seq, Vec<u8>)>,
    Vec<String>,
    impl PartialEq + std::fmt::Debug,
) {
    let applied = store
        .state_machine(Purchases)
        .applied_state()
        .await
        .unwrap();
    (raw_events(store), dump(store), applied)
}

#[tokio::test]
async fn a_snapshot_installed_elsewhere_reproduces_the_state_machine() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica_with(&dir.path().join("leader.redb"), some_log(30)).await;
    let mut leader_sm = leader.state_machine(Purchases);
    assert_eq!(
        leader_sm
            .get_current_snapshot()
            .await
            .unwrap()
            .map(|s| s.meta),
        None
    );
    let snap = leader_sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snap.meta.last_log_id, Some(log_id(2, 30)));
    assert_eq!(snap.meta.last_membership.log_id(), &Some(log_id(1, 1)));
    let expected = state_of(&leader).await;
    assert_eq!(expected.0.len(), 29);

    // Followers: a fresh one, one that is behind, one whose events diverged.
    let fresh = open(&dir.path().join("fresh.redb"));
    let behind = replica_with(&dir.path().join("behind.redb"), some_log(12)).await;
    let mut diverged_log = some_log(8);
    diverged_log.push(purchase(2, 9, "someone-else", 3));
    let diverged = replica_with(&dir.path().join("diverged.redb"), diverged_log).await;
    assert_ne!(state_of(&diverged).await.0, expected.0[..8].to_vec());

    for follower in [&fresh, &behind, &diverged] {
        let mut sm = follower.state_machine(Purchases);
        let mut data = sm.begin_receiving_snapshot().await.unwrap();
        *data = *snap.snapshot.clone();
        sm.install_snapshot(&snap.meta, data).await.unwrap();
        assert_eq!(state_of(follower).await, expected);
        assert_eq!(follower.event_log().last_seq(), Seq(29));
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snap.meta);
        assert_eq!(current.snapshot.last_seq(), snap.snapshot.last_seq());
    }

    // The installed snapshot and state are durable; so is the leader's built snapshot.
    let path = fresh.path().to_path_buf();
    drop(fresh);
    let fresh = open(&path);
    assert_eq!(state_of(&fresh).await, expected);
    let mut sm = fresh.state_machine(Purchases);
    assert_eq!(
        sm.get_current_snapshot().await.unwrap().unwrap().meta,
        snap.meta
    );
    let path = leader.path().to_path_buf();
    drop((leader, leader_sm));
    let mut leader_sm = open(&path).state_machine(Purchases);
    assert_eq!(
        leader_sm
            .get_current_snapshot()
            .await
            .unwrap()
            .unwrap()
            .meta,
        snap.meta
    );

    // And the follower carries on applying from there.
    let replies = sm.apply(vec![purchase(2, 31, "r31", 1)]).await.unwrap();
    assert_eq!(applied_numbers(&replies), vec![(29, true)]);
}

#[tokio::test]
async fn a_snapshot_that_does_not_match_its_metadata_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica_with(&dir.path().join("leader.redb"), some_log(5)).await;
    let snap = leader
        .state_machine(Purchases)
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let follower = open(&dir.path().join("follower.redb"));
    let mut sm = follower.state_machine(Purchases);
    let lying = SnapshotMeta {
        last_log_id: Some(log_id(2, 7)),
        ..snap.meta.clone()
    };
    let err = sm
        .install_snapshot(&lying, snap.snapshot.clone())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let nothing = sm.begin_receiving_snapshot().await.unwrap();
    assert!(sm.install_snapshot(&snap.meta, nothing).await.is_err());
    assert!(raw_events(&follower).is_empty());
    assert_eq!(sm.applied_state().await.unwrap().0, None);
    assert!(sm.get_current_snapshot().await.unwrap().is_none());
}

#[tokio::test]
async fn purging_after_a_snapshot_keeps_the_state_and_reports_last_purged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replica.redb");
    let entries = some_log(20);
    let store = open(&path);
    let mut log = store.log_store();
    let mut sm = store.state_machine(Purchases);
    log.blocking_append(entries.clone()).await.unwrap();
    sm.apply(entries[..15].to_vec()).await.unwrap();
    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(snap.meta.last_log_id, Some(log_id(2, 15)));
    let before = state_of(&store).await;
    assert_eq!(before.0.len(), 14);

    log.purge(log_id(2, 15)).await.unwrap();
    let expected_state = LogState {
        last_purged_log_id: Some(log_id(2, 15)),
        last_log_id: Some(log_id(2, 20)),
    };
    assert_eq!(log.get_log_state().await.unwrap(), expected_state);
    assert_eq!(
        indexes(&log.try_get_log_entries(..).await.unwrap()),
        (16..=20).collect::<Vec<_>>()
    );
    assert_eq!(state_of(&store).await, before);

    // Purging everything leaves the last purged log id as the last log id.
    drop((log, sm, store));
    let store = open(&path);
    let mut log = store.log_store();
    assert_eq!(log.get_log_state().await.unwrap(), expected_state);
    assert_eq!(state_of(&store).await, before);
    log.purge(log_id(2, 20)).await.unwrap();
    assert_eq!(
        log.get_log_state().await.unwrap(),
        LogState {
            last_purged_log_id: Some(log_id(2, 20)),
            last_log_id: Some(log_id(2, 20)),
        }
    );
    assert!(log.try_get_log_entries(..).await.unwrap().is_empty());
}

/// The writer thread held inside a transaction ([`stall_writer`]) until [`Stall::end`].
struct Stall {
    release: mpsc::Sender<()>,
    holding: tokio::task::JoinHandle<()>,
}

impl Stall {
    /// Lets the writer go on, and returns once the stall's own handle of the store is gone
    /// (so the file can be reopened).
    async fn end(self) {
        self.release.send(()).unwrap();
        self.holding.await.unwrap();
    }
}

/// Holds the writer thread inside a transaction until [`Stall::end`], so everything queued
/// meanwhile lands in one later group commit.
async fn stall_writer(store: &Store) -> Stall {
    let (release, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let log = store.event_log().clone();
    let holding = tokio::spawn(async move {
        log.execute(move |_| {
            let _ = started_tx.send(());
            let _ = release_rx.recv();
            Ok(())
        })
        .await
        .unwrap();
    });
    started_rx.await.unwrap();
    Stall { release, holding }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_are_readable_at_once_flushed_after_the_commit_and_batched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replica.redb");
    let store = open(&path);
    let entries = some_log(60);

    // One append while the writer is held: readable at once, but not flushed.
    let release = stall_writer(&store).await;
    let mut log = store.log_store();
    let first = entries[..10].to_vec();
    let appending = tokio::spawn(async move { log.blocking_append(first).await });
    let mut reader = store.log_store().get_log_reader().await;
    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = reader.try_get_log_entries(1..=10).await.unwrap();
        if seen.len() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(seen, entries[..10].to_vec());
    assert_eq!(
        store.log_store().get_log_state().await.unwrap().last_log_id,
        Some(log_id(2, 10))
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!appending.is_finished(), "flushed before the commit");
    release.end().await;
    appending.await.unwrap().unwrap();

    // Fifty appends (and a vote, and an apply) queued while the writer is held commit together.
    let release = stall_writer(&store).await;
    let mut tasks = Vec::new();
    for entry in entries[10..].iter().cloned() {
        let mut log = store.log_store();
        tasks.push(tokio::spawn(
            async move { log.blocking_append([entry]).await },
        ));
    }
    let mut log = store.log_store();
    let vote = tokio::spawn(async move { log.save_vote(&Vote::new(4, 2)).await });
    let mut sm = store.state_machine(Purchases);
    let applying = entries[..10].to_vec();
    let apply = tokio::spawn(async move { sm.apply(applying).await });
    for _ in 0..200 {
        if reader.try_get_log_entries(..).await.unwrap().len() == 60 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(reader.try_get_log_entries(..).await.unwrap(), entries);
    assert!(tasks.iter().all(|t| !t.is_finished()));
    release.end().await;
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    vote.await.unwrap().unwrap();
    assert_eq!(applied_numbers(&apply.await.unwrap().unwrap()).len(), 9);

    drop((reader, store));
    let store = open(&path);
    let mut log = store.log_store();
    assert_eq!(log.try_get_log_entries(..).await.unwrap(), entries);
    assert_eq!(log.read_vote().await.unwrap(), Some(Vote::new(4, 2)));
    assert_eq!(events(&store).len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_fails_its_appends_and_refuses_later_log_writes_until_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replica.redb");
    let store = open(&path);
    let entries = some_log(6);
    store
        .log_store()
        .blocking_append(entries[..3].to_vec())
        .await
        .unwrap();

    // An append and a failing apply (0 units) queued together share one commit, which fails.
    let release = stall_writer(&store).await;
    let mut log = store.log_store();
    let tail = entries[3..].to_vec();
    let appending = tokio::spawn(async move { log.blocking_append(tail).await });
    let mut sm = store.state_machine(Purchases);
    let applying = tokio::spawn(async move { sm.apply(vec![purchase(2, 4, "bad", 0)]).await });
    let mut reader = store.log_store().get_log_reader().await;
    for _ in 0..200 {
        if reader.try_get_log_entries(..).await.unwrap().len() == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.end().await;
    assert!(applying.await.unwrap().is_err());
    assert!(
        appending.await.unwrap().is_err(),
        "flushed although the commit failed"
    );

    // The failed entries are gone, and no later log write may land after the hole.
    let mut log = store.log_store();
    assert_eq!(
        log.try_get_log_entries(..).await.unwrap(),
        entries[..3].to_vec()
    );
    let err = log
        .blocking_append(entries[3..].to_vec())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("reopen"), "{err}");
    assert!(log.save_vote(&Vote::new(5, 1)).await.is_err());
    assert_eq!(log.read_vote().await.unwrap(), None);

    drop((log, reader, store));
    let mut log = open(&path).log_store();
    log.blocking_append(entries[3..].to_vec()).await.unwrap();
    assert_eq!(log.try_get_log_entries(..).await.unwrap(), entries);
}

#[test]
fn an_order_log_from_before_raft_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("order.redb");
    let log = EventLog::open(&path, Orders).unwrap();
    log.append_blocking(vec![OrderEvent::OrderPlaced {
        number: 0.into(),
        request_id: "a".try_into().unwrap(),
        name: "Tux".try_into().unwrap(),
        quantity: 1u32.try_into().unwrap(),
    }])
    .unwrap();
    drop(log);
    match Store::open(&path, Orders) {
        Err(StoreError::Foreign { found, .. }) => assert!(found.contains("1 events"), "{found}"),
        Err(other) => panic!("expected Foreign, got {other}"),
        Ok(_) => panic!("a pre-raft log was adopted"),
    }
    // A new file becomes a replica, and reopens as one.
    let path = dir.path().join("new.redb");
    drop(open(&path));
    drop(open(&path));
}
