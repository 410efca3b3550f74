//! The shared follower of the catalog's event stream ([`toystore_catalog_api::follow`]),
//! against hand-written catalog replicas on loopback ([`toystore_catalog_api::fake`]) and a
//! replica that is not there at all. It must:
//! - fail over to the replica that answers, for its starting position and for each stream;
//! - resume after the last event it delivered: the events it delivers are consecutive
//!   across ended streams, none missed, none twice;
//! - drop a stream that goes silent after the silence timeout, and reopen it;
//! - report a lone catalog's replaced log and resume where it is told;
//! - stop when told, and when its receiver is dropped (even on a silent stream).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;
use tokio::sync::mpsc::Receiver;
use tokio_util::sync::CancellationToken;
use toystore_catalog_api::fake::{FakeCatalog, Script, Then};
use toystore_catalog_api::follow::{follow, Followed, Following, OnReplaced, Start};
use toystore_catalog_api::CatalogClient;
use toystore_config::{Backoff, ClusterToken};
use toystore_events::Seq;

const DEADLINE: Duration = Duration::from_secs(20);

/// A base URL nothing listens on (bound, then closed).
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

fn client(urls: &[String]) -> CatalogClient {
    let members: Vec<(u32, String)> = (1..).zip(urls.iter().cloned()).collect();
    CatalogClient::of_replicas(
        &members,
        ClusterToken::new("follow-test-token").unwrap(),
        &Default::default(),
    )
    .unwrap()
}

fn following(silence: Duration, on_replaced: OnReplaced) -> Following {
    Following {
        silence,
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(50)),
        on_replaced,
    }
}

async fn next(heard: &mut Receiver<Followed>) -> Followed {
    tokio::time::timeout(DEADLINE, heard.recv())
        .await
        .expect("the follower goes on")
        .expect("the follower runs")
}

/// What comes until `n` events have been delivered: (connections' `after`, events' seqs,
/// breaks).
async fn until_events(heard: &mut Receiver<Followed>, n: usize) -> (Vec<u64>, Vec<u64>, usize) {
    let (mut connected, mut events, mut broken) = (Vec::new(), Vec::new(), 0);
    while events.len() < n {
        match next(heard).await {
            Followed::Connected { after } => connected.push(after.0),
            Followed::Event { seq, .. } => events.push(seq.0),
            Followed::Broken { .. } => broken += 1,
            Followed::Heartbeat { caught_up, .. } => assert!(caught_up),
            Followed::Replaced { .. } => panic!("nothing was replaced"),
        }
    }
    (connected, events, broken)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_delivered_consecutively_across_ended_streams_and_a_dead_replica() {
    let mut live = FakeCatalog::start(Script {
        last_seq: u64::MAX,
        per_subscription: 2,
        then: Then::End,
    })
    .await
    .unwrap();
    let stop = CancellationToken::new();
    let catalog = client(&[dead_url(), live.url.clone()]);
    let how = following(Duration::from_secs(5), OnReplaced::ReadAgain);
    let (mut heard, _task) = follow(catalog, Start::After(Seq(5)), how, stop.clone());

    let (connected, events, broken) = until_events(&mut heard, 6).await;
    assert_eq!(events, [6, 7, 8, 9, 10, 11], "consecutive, from after 5");
    assert_eq!(
        connected[..3],
        [5, 7, 9],
        "each stream resumes after the last event"
    );
    assert!(broken >= 2, "each ended stream is reported");
    assert_eq!(live.subscriptions_so_far()[..3], [5, 7, 9]);

    stop.cancel();
    let ended =
        tokio::time::timeout(DEADLINE, async { while heard.recv().await.is_some() {} }).await;
    assert!(ended.is_ok(), "the follower stops when told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_from_now_asks_the_replica_that_answers_where_the_log_ends() {
    let mut live = FakeCatalog::start(Script {
        last_seq: 10,
        per_subscription: 2,
        then: Then::Silence,
    })
    .await
    .unwrap();
    let catalog = client(&[dead_url(), live.url.clone()]);
    let how = following(Duration::from_secs(5), OnReplaced::SkipToEnd);
    let (mut heard, _task) = follow(catalog, Start::Now, how, CancellationToken::new());
    let connected = tokio::time::timeout(DEADLINE, async {
        loop {
            match next(&mut heard).await {
                Followed::Connected { after } => return after,
                Followed::Broken { .. } => {}
                other => panic!("{other:?} before connecting"),
            }
        }
    })
    .await
    .expect("connected past the dead replica");
    assert_eq!(
        connected,
        Seq(10),
        "after the log's end, not from its start"
    );
    assert_eq!(live.next_subscription(DEADLINE).await, Some(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_stream_is_dropped_and_reopened_after_the_last_event() {
    const SILENCE: Duration = Duration::from_millis(400);
    let mut live = FakeCatalog::start(Script::silent_after(3)).await.unwrap();
    let catalog = client(std::slice::from_ref(&live.url));
    let how = following(SILENCE, OnReplaced::ReadAgain);
    let (mut heard, _task) = follow(
        catalog,
        Start::After(Seq::ZERO),
        how,
        CancellationToken::new(),
    );
    assert_eq!(live.next_subscription(DEADLINE).await, Some(0));
    let (_, events, _) = until_events(&mut heard, 3).await;
    assert_eq!(events, [1, 2, 3]);
    let silent_since = tokio::time::Instant::now();
    loop {
        match next(&mut heard).await {
            Followed::Broken { .. } => break,
            Followed::Heartbeat { .. } => {}
            other => panic!("{other:?} on a silent stream"),
        }
    }
    assert!(
        silent_since.elapsed() >= SILENCE - Duration::from_millis(50),
        "dropped before the silence timeout: {:?}",
        silent_since.elapsed()
    );
    assert_eq!(
        live.next_subscription(DEADLINE).await,
        Some(3),
        "reopened after the last event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_catalog_s_replaced_log_is_reported_and_followed_where_told() {
    for (on_replaced, resume_at) in [(OnReplaced::ReadAgain, 0), (OnReplaced::SkipToEnd, 4)] {
        let mut live = FakeCatalog::start(Script::silent_after(4)).await.unwrap();
        let catalog = client(std::slice::from_ref(&live.url));
        let how = following(Duration::from_secs(5), on_replaced);
        let stop = CancellationToken::new();
        let (mut heard, _task) = follow(catalog, Start::After(Seq(10)), how, stop.clone());
        assert_eq!(
            next(&mut heard).await,
            Followed::Connected { after: Seq(10) }
        );
        assert_eq!(
            next(&mut heard).await,
            Followed::Replaced {
                heard: Seq(4),
                read: Seq(10),
                resume_at: Seq(resume_at),
            }
        );
        assert_eq!(
            next(&mut heard).await,
            Followed::Connected {
                after: Seq(resume_at)
            },
            "{on_replaced:?}: at once, where told"
        );
        assert_eq!(live.subscriptions_so_far(), [10, resume_at]);
        stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_stops_when_its_receiver_is_dropped() {
    // A stream that goes silent for longer than the test waits: only the dropped receiver
    // can end the task in time.
    let live = FakeCatalog::start(Script::silent_after(3)).await.unwrap();
    let catalog = client(std::slice::from_ref(&live.url));
    let how = following(Duration::from_secs(600), OnReplaced::ReadAgain);
    let (mut heard, task) = follow(
        catalog,
        Start::After(Seq::ZERO),
        how,
        CancellationToken::new(),
    );
    until_events(&mut heard, 3).await;
    drop(heard);
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("the follower stops once its receiver is dropped")
        .expect("no panic");
}
