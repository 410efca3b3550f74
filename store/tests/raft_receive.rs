//! A snapshot transfer's events written straight into the receiver's log
//! (`RaftStore::receive_snapshot`), and what becomes of them:
//! (a) installed: the receiver equals the leader (events, projection, applied position), and
//!     nothing is left to discard;
//! (b) not installed (Raft found it no newer): `discard_received` takes them back out, and
//!     the log and projection are as before;
//! (c) entries applied during a transfer set its received events aside first, so the
//!     entries' events land at the right sequence numbers; the install (or the transfer's
//!     next events, also when the entries come before its first) brings them back;
//! (d) a snapshot built while they are in the log ends where the applied position does;
//! (e) a transfer cut mid-way keeps what it wrote across a reopen, and the next transfer
//!     resumes after it and installs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod raft_support;

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use openraft::storage::RaftStateMachine;
use openraft::{Entry, RaftSnapshotBuilder, Snapshot};
use raft_support::{dump, membership, open, purchase, raw_events, Purchases, Store, TestConfig};
use std::path::Path;
use toystore_events::Seq;

type Entries = Vec<Entry<TestConfig>>;

/// The log entries `1..=n`: a membership entry, then purchases `r2 ..= rn` in term 2.
fn some_log(n: u64) -> Entries {
    let mut out = vec![membership(1, 1, &[1, 2, 3])];
    out.extend((2..=n).map(|i| purchase(2, i, &format!("r{i}"), 1 + i as u32 % 3)));
    out
}

async fn replica_with(path: &Path, entries: Entries) -> Store {
    let store = open(path);
    store.state_machine(Purchases).apply(entries).await.unwrap();
    store
}

async fn snapshot_of(store: &Store) -> Snapshot<TestConfig> {
    store
        .state_machine(Purchases)
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap()
}

/// The leader's events after `after`, as a transfer sends them (`cut_after`: the stream
/// breaks after that many).
fn transfer(
    leader: &Store,
    after: Seq,
    cut_after: Option<usize>,
) -> impl futures_util::Stream<Item = Result<(Seq, Bytes), String>> {
    let mut items: Vec<Result<(Seq, Bytes), String>> = raw_events(leader)
        .into_iter()
        .filter(|(seq, _)| *seq > after)
        .map(|(seq, bytes)| Ok((seq, Bytes::from(bytes))))
        .collect();
    if let Some(n) = cut_after {
        items.truncate(n);
        items.push(Err("connection reset".to_string()));
    }
    stream::iter(items)
}

async fn applied(store: &Store) -> impl PartialEq + std::fmt::Debug {
    store
        .state_machine(Purchases)
        .applied_state()
        .await
        .unwrap()
}

#[tokio::test]
async fn received_events_are_installed_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica_with(&dir.path().join("leader.redb"), some_log(40)).await;
    let snap = snapshot_of(&leader).await;
    let follower = replica_with(&dir.path().join("follower.redb"), some_log(10)).await;
    let (after, _) = follower.snapshot_position().unwrap();
    assert_eq!(after, Seq(9));

    let received = follower
        .receive_snapshot(&snap.meta, after, Seq(39), transfer(&leader, after, None))
        .await
        .unwrap();
    // The events are in the log already; the applied position is not moved yet.
    assert_eq!(follower.event_log().last_seq(), Seq(39));
    assert_ne!(applied(&follower).await, applied(&leader).await);

    let mut sm = follower.state_machine(Purchases);
    sm.install_snapshot(&snap.meta, Box::new(received.data.clone()))
        .await
        .unwrap();
    assert_eq!(follower.discard_received(&received).await.unwrap(), None);
    assert_eq!(raw_events(&follower), raw_events(&leader));
    assert_eq!(dump(&follower), dump(&leader));
    assert_eq!(applied(&follower).await, applied(&leader).await);
}

#[tokio::test]
async fn received_events_not_installed_are_taken_back_out() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica_with(&dir.path().join("leader.redb"), some_log(30)).await;
    let snap = snapshot_of(&leader).await;
    let follower = replica_with(&dir.path().join("follower.redb"), some_log(10)).await;
    let (events, rows, position) = (
        raw_events(&follower),
        dump(&follower),
        applied(&follower).await,
    );

    let received = follower
        .receive_snapshot(&snap.meta, Seq(9), Seq(29), transfer(&leader, Seq(9), None))
        .await
        .unwrap();
    assert_eq!(follower.event_log().last_seq(), Seq(29));
    assert_eq!(
        follower.discard_received(&received).await.unwrap(),
        Some(20)
    );
    assert_eq!(raw_events(&follower), events);
    assert_eq!(dump(&follower), rows);
    assert_eq!(applied(&follower).await, position);
}

#[tokio::test]
async fn entries_applied_before_an_install_set_the_received_events_aside_until_it() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica_with(&dir.path().join("leader.redb"), some_log(30)).await;
    let snap = snapshot_of(&leader).await;
    let follower = replica_with(&dir.path().join("follower.redb"), some_log(10)).await;
    let first = follower
        .receive_snapshot(&snap.meta, Seq(9), Seq(29), transfer(&leader, Seq(9), None))
        .await
        .unwrap();

    // Raft catches the follower up with entries 11 and 12 instead.
    let entries = some_log(12).split_off(10);
    follower
        .state_machine(Purchases)
        .apply(entries)
        .await
        .unwrap();
    let expected = replica_with(&dir.path().join("expected.redb"), some_log(12)).await;
    assert_eq!(raw_events(&follower), raw_events(&expected));
    assert_eq!(dump(&follower), dump(&expected));
    assert_eq!(applied(&follower).await, applied(&expected).await);

    // Raft then installs the snapshot after all: the events set aside come back.
    follower
        .state_machine(Purchases)
        .install_snapshot(&snap.meta, Box::new(first.data.clone()))
        .await
        .unwrap();
    assert_eq!(follower.discard_received(&first).await.unwrap(), None);
    assert_eq!(raw_events(&follower), raw_events(&leader));
    assert_eq!(dump(&follower), dump(&leader));
    assert_eq!(applied(&follower).await, applied(&leader).await);
}

#[tokio::test]
async fn entries_applied_before_any_event_arrives_leave_the_transfer_going() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica_with(&dir.path().join("leader.redb"), some_log(30)).await;
    let snap = snapshot_of(&leader).await;
    let follower = replica_with(&dir.path().join("follower.redb"), some_log(10)).await;
    // The sender read the position (9), then the follower applies two committed entries of
    // its own log before the first event arrives: the events sent overlap them.
    // The stream's first poll comes after the transfer recorded its marker; it then waits
    // for the go-ahead.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let gate = stream::once(async move {
        let _ = started_tx.send(());
        let _ = go_rx.await;
    })
    .flat_map(|()| stream::empty());
    let events = gate.chain(transfer(&leader, Seq(9), None));
    let receiving = tokio::spawn({
        let follower = follower.clone();
        let meta = snap.meta.clone();
        async move {
            follower
                .receive_snapshot(&meta, Seq(9), Seq(29), events)
                .await
        }
    });
    started_rx.await.unwrap();
    follower
        .state_machine(Purchases)
        .apply(some_log(12).split_off(10))
        .await
        .unwrap();
    go_tx.send(()).unwrap();
    let received = receiving.await.unwrap().unwrap();
    follower
        .state_machine(Purchases)
        .install_snapshot(&snap.meta, Box::new(received.data.clone()))
        .await
        .unwrap();
    assert_eq!(raw_events(&follower), raw_events(&leader));
    assert_eq!(dump(&follower), dump(&leader));
    assert_eq!(applied(&follower).await, applied(&leader).await);
}

#[tokio::test]
async fn a_snapshot_built_meanwhile_ends_at_the_applied_position() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica_with(&dir.path().join("leader.redb"), some_log(30)).await;
    let snap = snapshot_of(&leader).await;
    let follower = replica_with(&dir.path().join("follower.redb"), some_log(10)).await;
    let _received = follower
        .receive_snapshot(&snap.meta, Seq(9), Seq(29), transfer(&leader, Seq(9), None))
        .await
        .unwrap();
    let own = snapshot_of(&follower).await;
    assert_eq!(own.snapshot.last_seq(), Seq(9));
}

#[tokio::test]
async fn a_cut_transfer_resumes_after_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let leader = replica_with(&dir.path().join("leader.redb"), some_log(60)).await;
    let snap = snapshot_of(&leader).await;
    let path = dir.path().join("follower.redb");
    let follower = open(&path);

    let cut = follower
        .receive_snapshot(
            &snap.meta,
            Seq(0),
            Seq(59),
            transfer(&leader, Seq(0), Some(25)),
        )
        .await;
    assert!(cut.is_err());
    drop(follower);

    // After a restart the events written so far are still there, and the next transfer
    // starts after them.
    let follower = open(&path);
    let (after, last) = follower.snapshot_position().unwrap();
    assert_eq!(after, Seq(25));
    assert_eq!(last, raw_events(&leader).get(24).map(|(_, b)| b.clone()));
    let received = follower
        .receive_snapshot(&snap.meta, after, Seq(59), transfer(&leader, after, None))
        .await
        .unwrap();
    let mut sm = follower.state_machine(Purchases);
    sm.install_snapshot(&snap.meta, Box::new(received.data.clone()))
        .await
        .unwrap();
    assert_eq!(follower.discard_received(&received).await.unwrap(), None);
    assert_eq!(raw_events(&follower), raw_events(&leader));
    assert_eq!(dump(&follower), dump(&leader));
    assert_eq!(applied(&follower).await, applied(&leader).await);
}
