//! Proves `recovery::sync_from`, the code that makes a replica's log match a peer's:
//! - from an authoritative peer (the leader), a divergent tail is truncated and replaced,
//!   a tail beyond the leader's log is dropped, and missing events are appended, leaving
//!   byte-identical logs and a projection rebuilt to match;
//! - from a non-authoritative peer, a difference is an error and nothing changes;
//! - with `compare_after` at the end of the local log (a new leader pulling), only newer
//!   events are appended.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use toystore_catalog::CatalogClient;
use toystore_events::{OrderEvent, Seq};
use toystore_net::ClusterToken;
use toystore_order::projection::OrderProjection;
use toystore_order::recovery::{sync_from, SyncError};
use toystore_order::{Replica, ReplicaClient, Timing};
use toystore_store::EventLog;

const SILENCE: Duration = Duration::from_secs(5);

fn order(number: u64, tag: &str) -> OrderEvent {
    OrderEvent::OrderPlaced {
        number,
        request_id: format!("{tag}-{number}"),
        name: "Tux".into(),
        quantity: 1,
    }
}

fn token() -> ClusterToken {
    ClusterToken::new("test-token").unwrap()
}

/// A replica serving its log on port 0, holding `events`.
struct Peer {
    client: ReplicaClient,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn peer(events: Vec<OrderEvent>) -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let stop = CancellationToken::new();
    // The catalog is never called by these tests.
    let catalog = CatalogClient::new("http://127.0.0.1:9", token()).unwrap();
    let replica = Replica::open(
        9,
        &dir.path().join("peer.redb"),
        Vec::new(),
        catalog,
        Timing::default(),
        stop.clone(),
    )
    .unwrap();
    replica.log().append(events).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let routes =
        toystore_order::server::routes(Arc::new(replica), token(), Timing::default(), stop.clone());
    let s = stop.clone();
    tokio::spawn(toystore_net::serve(listener, routes, s.cancelled_owned()));
    Peer {
        client: ReplicaClient::new(9, &url, token()).unwrap(),
        stop,
        _dir: dir,
    }
}

async fn local(events: Vec<OrderEvent>) -> (EventLog<OrderEvent>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("local.redb"), OrderProjection).unwrap();
    log.append(events).await.unwrap();
    (log, dir)
}

fn raw(log: &EventLog<OrderEvent>) -> Vec<(Seq, Vec<u8>)> {
    log.read_raw_after(Seq::ZERO)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn dump(log: &EventLog<OrderEvent>) -> Vec<String> {
    log.projection().dump(&log.begin_read().unwrap()).unwrap()
}

/// The projection a log with exactly `events` must have.
async fn expected_dump(events: Vec<OrderEvent>) -> Vec<String> {
    let (log, _dir) = local(events).await;
    dump(&log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authoritative_peer_replaces_a_divergent_tail() {
    let leader: Vec<_> = (0..8).map(|n| order(n, "leader")).collect();
    let mut mine: Vec<_> = leader[..5].to_vec();
    mine.extend((5..7).map(|n| order(n, "unacknowledged")));
    let peer = peer(leader.clone()).await;
    let (log, _dir) = local(mine).await;

    let report = sync_from(&log, &peer.client, Seq::ZERO, true, 0, SILENCE)
        .await
        .unwrap();
    assert_eq!(report.truncated, 2);
    assert_eq!(report.appended, 3);
    let (reference, _d) = local(leader.clone()).await;
    assert_eq!(raw(&log), raw(&reference));
    assert_eq!(dump(&log), expected_dump(leader).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authoritative_peer_drops_a_tail_beyond_its_log() {
    let leader: Vec<_> = (0..4).map(|n| order(n, "leader")).collect();
    let mut mine = leader.clone();
    mine.push(order(4, "unacknowledged"));
    let peer = peer(leader.clone()).await;
    let (log, _dir) = local(mine).await;

    let report = sync_from(&log, &peer.client, Seq::ZERO, true, 0, SILENCE)
        .await
        .unwrap();
    assert_eq!((report.truncated, report.appended), (1, 0));
    assert_eq!(log.last_seq(), Seq(4));
    assert_eq!(dump(&log), expected_dump(leader).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_authoritative_peer_never_truncates() {
    let theirs: Vec<_> = (0..6).map(|n| order(n, "theirs")).collect();
    let mut mine: Vec<_> = theirs[..3].to_vec();
    mine.push(order(3, "mine"));
    let peer = peer(theirs).await;
    let (log, _dir) = local(mine).await;
    let before = raw(&log);

    let err = sync_from(&log, &peer.client, Seq::ZERO, false, 0, SILENCE)
        .await
        .unwrap_err();
    assert!(
        matches!(err, SyncError::Diverged { seq: Seq(4), .. }),
        "{err}"
    );
    assert_eq!(raw(&log), before);

    // A longer local log is kept too.
    let (longer, _d2) = local((0..8).map(|n| order(n, "theirs")).collect()).await;
    let peer2 = self::peer((0..6).map(|n| order(n, "theirs")).collect()).await;
    let report = sync_from(&longer, &peer2.client, Seq::ZERO, false, 0, SILENCE)
        .await
        .unwrap();
    assert_eq!((report.truncated, report.appended), (0, 0));
    assert_eq!(longer.last_seq(), Seq(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulling_after_the_local_end_appends_only_newer_events() {
    let theirs: Vec<_> = (0..10).map(|n| order(n, "x")).collect();
    let peer = peer(theirs.clone()).await;
    let (log, _dir) = local(theirs[..6].to_vec()).await;
    let report = sync_from(&log, &peer.client, log.last_seq(), false, 0, SILENCE)
        .await
        .unwrap();
    assert_eq!((report.truncated, report.appended), (0, 4));
    assert_eq!(dump(&log), expected_dump(theirs).await);
}
