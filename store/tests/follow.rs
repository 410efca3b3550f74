//! Following a log ([`toystore_store::follow`]) while it is busy:
//! - a batch that changes nothing (a request that only reads, like a refused buy) is not
//!   committed: no fsync, and no subscriber is woken by it;
//! - a follower hears a heartbeat every interval whatever else happens on the log: while
//!   requests that append nothing run in a tight loop, and while events keep arriving
//!   faster than the interval (each heartbeat then carries exactly the last event sent).
//!
//! These are the conditions under which the catalog's stream once went silent for seconds
//! (every commit, even one without events, woke the follower, which then started its
//! heartbeat wait over).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{open_counts, purchase, COUNTS};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use toystore_events::{frame, CatalogEvent, Seq, StreamItem};
use toystore_store::{follow, EventLog};

const HEARTBEAT: Duration = Duration::from_millis(100);
/// How long each busy spell lasts: 15 heartbeat intervals.
const SPELL: Duration = Duration::from_millis(1_500);

/// A request that reads the projection and appends nothing.
async fn read_only(log: &EventLog<CatalogEvent>) {
    log.execute(|b| {
        b.tables().open(COUNTS)?.get("Tux")?;
        Ok(b.last_seq())
    })
    .await
    .expect("a read-only request succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_changes_nothing_is_not_committed_and_wakes_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_counts(&dir.path().join("log.redb"));
    log.append(vec![purchase("Tux", "r1")]).await.unwrap();
    let mut commits = log.subscribe();
    commits.borrow_and_update();
    let before = log.commits();

    for _ in 0..50 {
        read_only(&log).await;
    }
    let after = log.commits();
    assert_eq!(
        after.durable, before.durable,
        "no fsync for reads: {after:?}"
    );
    assert_eq!(after.skipped, before.skipped + 50, "{after:?}");
    assert!(
        !commits.has_changed().unwrap(),
        "no subscriber woken by requests that appended nothing"
    );

    // A row written without an event is a change: it commits, durably, but wakes nobody
    // (the last sequence number did not move).
    log.execute(|b| {
        b.tables().open(COUNTS)?.insert("Whale", 7)?;
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(log.commits().durable, after.durable + 1);
    assert!(!commits.has_changed().unwrap());
    let read = log.read().unwrap();
    assert_eq!(read.open(COUNTS).unwrap().get("Whale").unwrap(), Some(7));

    // An event wakes subscribers.
    log.append(vec![purchase("Tux", "r2")]).await.unwrap();
    assert!(commits.has_changed().unwrap());
    assert_eq!(*commits.borrow_and_update(), Seq(2));
}

/// What a follower received: each item with when it arrived.
struct Received {
    items: Vec<(Instant, StreamItem<CatalogEvent>)>,
}

impl Received {
    fn heartbeats(&self) -> Vec<(Instant, Seq)> {
        self.items
            .iter()
            .filter_map(|(at, item)| match item {
                StreamItem::Heartbeat { last_seq } => Some((*at, *last_seq)),
                StreamItem::Event { .. } => None,
            })
            .collect()
    }

    /// The longest time between two heartbeats (`None` with fewer than two).
    fn longest_gap(&self) -> Option<Duration> {
        self.heartbeats().windows(2).map(|w| w[1].0 - w[0].0).max()
    }
}

/// Follows `log` from its current end while `busy` runs (which must end on its own), then
/// stops; returns everything received, checked as a stream (in order, no gaps, heartbeats
/// never ahead of the events delivered).
async fn follow_while<F: std::future::Future<Output = ()>>(
    log: &Arc<EventLog<CatalogEvent>>,
    busy: F,
) -> Received {
    let start = log.last_seq();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let frames = follow(log.clone(), start, HEARTBEAT, async move {
        let _ = stop_rx.await;
    });
    let reading = tokio::spawn(async move {
        let mut frames = std::pin::pin!(frames);
        let mut after = start;
        let mut items = Vec::new();
        while let Some(chunk) = frames.next().await {
            let at = Instant::now();
            for item in frame::read_all::<CatalogEvent>([chunk], after) {
                let item = item.expect("a valid stream");
                match &item {
                    StreamItem::Event { seq, .. } => after = *seq,
                    StreamItem::Heartbeat { last_seq } => assert!(
                        *last_seq <= after,
                        "heartbeat at {last_seq} ahead of the events sent ({after})"
                    ),
                }
                items.push((at, item));
            }
        }
        items
    });
    busy.await;
    let _ = stop_tx.send(());
    Received {
        items: reading.await.expect("reader"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_their_interval_while_requests_that_append_nothing_run_in_a_tight_loop() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open_counts(&dir.path().join("log.redb")));
    log.append(vec![purchase("Tux", "r1")]).await.unwrap();
    let busy = async {
        let done = Arc::new(AtomicBool::new(false));
        let loops: Vec<_> = (0..4)
            .map(|_| {
                let (log, done) = (log.clone(), done.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !done.load(Ordering::Relaxed) {
                        read_only(&log).await;
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        tokio::time::sleep(SPELL).await;
        done.store(true, Ordering::Relaxed);
        let mut total = 0;
        for l in loops {
            total += l.await.unwrap();
        }
        assert!(total > 100, "the loop ran ({total} requests)");
    };
    let got = follow_while(&log, busy).await;
    let beats = got.heartbeats();
    // 15 intervals: at least 10 heartbeats even on a slow, shared machine (the old stream
    // sent one, when it caught up, and then none for as long as the loop ran).
    assert!(
        beats.len() >= 10,
        "{} heartbeats in {SPELL:?}, longest gap {:?}",
        beats.len(),
        got.longest_gap()
    );
    assert!(beats.iter().all(|(_, s)| *s == Seq(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_keep_their_interval_while_events_arrive_faster_than_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open_counts(&dir.path().join("log.redb")));
    let busy = async {
        let until = Instant::now() + SPELL;
        let mut i = 0;
        while Instant::now() < until {
            i += 1;
            log.append(vec![purchase("Tux", format!("r{i}"))])
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let got = follow_while(&log, busy).await;
    let events = got
        .items
        .iter()
        .filter(|(_, i)| matches!(i, StreamItem::Event { .. }))
        .count() as u64;
    assert_eq!(events, log.last_seq().0, "every event, once");
    let beats = got.heartbeats();
    assert!(
        beats.len() >= 10,
        "{} heartbeats among {events} events in {SPELL:?}, longest gap {:?}",
        beats.len(),
        got.longest_gap()
    );
}
