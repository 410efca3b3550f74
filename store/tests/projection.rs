//! A projection and its events commit together or not at all:
//! (a) after successful appends the projection's table matches the events (also after a
//!     reopen, and `dump` shows it);
//! (b) a request whose closure appends and then fails leaves neither its events nor their
//!     projection rows, `last_seq` is unchanged, and the other requests of the same group
//!     commit are reported `Aborted` and not written either, while the next request is
//!     written at the next sequence number;
//! (c) a projection whose `apply` fails aborts the events too (and its own partial writes),
//!     even when the request's closure swallows the error.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{counts_of, event, expected_counts, open_counts, purchase, read_all, Counts, POISON};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use toystore_events::CatalogEvent;
use toystore_store::{EventLog, Projection, Seq, StoreError};

#[test]
fn projection_matches_the_events_after_appends_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let log = open_counts(&path);
    let events: Vec<_> = (0..30).map(event).collect();
    for chunk in events.chunks(7) {
        log.append_blocking(chunk.to_vec()).unwrap();
    }
    let expected = expected_counts(&events);
    assert_eq!(expected.values().sum::<u64>(), 30);
    assert_eq!(counts_of(&log), expected);

    // A request that reads the projection sees the effects of its own earlier appends.
    let (before, after) = log
        .execute_blocking(|b| {
            let read = |b: &toystore_store::Batch<'_, CatalogEvent>| -> Result<u64, StoreError> {
                let t = b.tables().open(common::COUNTS)?;
                let n = t.get("fresh")?.unwrap_or(0);
                Ok(n)
            };
            let before = read(b)?;
            b.append(&purchase("fresh", "f1"))?;
            b.append(&purchase("fresh", "f2"))?;
            Ok((before, read(b)?))
        })
        .unwrap();
    assert_eq!((before, after), (0, 2));
    drop(log);

    let log = open_counts(&path);
    let all: Vec<_> = read_all(&log).into_iter().map(|(_, e)| e).collect();
    assert_eq!(all.len(), 32);
    assert_eq!(counts_of(&log), expected_counts(&all));
    let dump = Counts.dump(&log.read().unwrap()).unwrap();
    assert_eq!(dump.len(), expected_counts(&all).len());
    assert!(dump.iter().any(|l| l.ends_with("\tfresh\t2")), "{dump:?}");
}

#[tokio::test]
async fn a_failing_request_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_counts(&dir.path().join("catalog.redb"));
    log.append(vec![purchase("tux", "r0")]).await.unwrap();
    let before = counts_of(&log);

    let err = log
        .execute(|b| {
            b.append(&purchase("tux", "r1"))?;
            b.append(&purchase("uno", "r2"))?;
            Err::<(), _>(StoreError::Aborted("changed my mind".into()))
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Aborted(m) if m == "changed my mind"),
        "{err:?}"
    );
    assert_eq!(log.last_seq(), Seq(1));
    assert_eq!(read_all(&log), vec![(Seq(1), purchase("tux", "r0"))]);
    assert_eq!(counts_of(&log), before);

    // The next request lands at the next number: no hole where the failed one was.
    assert_eq!(log.append(vec![event(5)]).await.unwrap(), vec![Seq(2)]);
}

/// Polls a future once, so an `execute` call has handed its request to the writer.
async fn poll_once<F: Future>(f: Pin<&mut F>) {
    let mut f = Some(f);
    std::future::poll_fn(|cx| {
        if let Some(f) = f.take() {
            assert!(
                f.poll(cx).is_pending(),
                "the request cannot be answered yet"
            );
        }
        Poll::Ready(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_request_aborts_its_whole_group_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open_counts(&dir.path().join("catalog.redb")));
    log.append(vec![purchase("tux", "r0")]).await.unwrap();
    let before = counts_of(&log);

    // Hold the writer inside a first transaction while three more requests queue up: the
    // writer then takes all three into one transaction.
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let blocker = tokio::spawn({
        let log = log.clone();
        async move {
            log.execute(move |b| {
                started_tx.send(()).unwrap();
                go_rx.recv().unwrap();
                b.append(&purchase("tux", "blocker"))
            })
            .await
        }
    });
    started_rx.await.unwrap();

    let first = log.execute(|b| b.append(&purchase("tux", "first")));
    let failing = log.execute(|b| {
        b.append(&purchase("uno", "failing"))?;
        Err::<Seq, _>(StoreError::Projection {
            table: "test",
            message: "nope".into(),
        })
    });
    let last = log.execute(|b| b.append(&purchase("tux", "last")));
    tokio::pin!(first, failing, last);
    poll_once(first.as_mut()).await;
    poll_once(failing.as_mut()).await;
    poll_once(last.as_mut()).await;
    go_tx.send(()).unwrap();

    assert_eq!(blocker.await.unwrap().unwrap(), Seq(2));
    let (first, failing, last) = tokio::join!(first, failing, last);
    assert!(
        matches!(failing, Err(StoreError::Projection { table: "test", .. })),
        "the failing request gets its own error: {failing:?}"
    );
    assert!(matches!(first, Err(StoreError::Aborted(_))), "{first:?}");
    assert!(matches!(last, Err(StoreError::Aborted(_))), "{last:?}");

    assert_eq!(log.last_seq(), Seq(2));
    let stored = read_all(&log);
    assert_eq!(
        stored,
        vec![
            (Seq(1), purchase("tux", "r0")),
            (Seq(2), purchase("tux", "blocker"))
        ]
    );
    let mut expected = before;
    *expected.get_mut("tux").unwrap() += 1;
    assert_eq!(counts_of(&log), expected);
    assert!(!counts_of(&log).contains_key("uno"));

    assert_eq!(log.append(vec![event(9)]).await.unwrap(), vec![Seq(3)]);
}

#[test]
fn a_failing_apply_aborts_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let log = open_counts(&path);
    log.append_blocking(vec![purchase("tux", "r0")]).unwrap();
    let before = counts_of(&log);

    let err = log
        .append_blocking(vec![purchase("uno", "r1"), purchase(POISON, "r2")])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Projection {
                table: "counts",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(log.last_seq(), Seq(1));
    assert_eq!(read_all(&log), vec![(Seq(1), purchase("tux", "r0"))]);
    assert_eq!(
        counts_of(&log),
        before,
        "no row of the failed apply, nor of the event before it"
    );

    // Also when the closure catches the error and carries on: the event the projection
    // refused must not be committed without its effect.
    let outcome = log.execute_blocking(|b| {
        let refused = b.append(&purchase(POISON, "r3"));
        assert!(refused.is_err());
        Ok(b.last_seq())
    });
    assert!(
        matches!(&outcome, Err(StoreError::Aborted(m)) if m.contains("refusing event 2")),
        "a swallowed apply failure still aborts: {outcome:?}"
    );
    assert_eq!(log.last_seq(), Seq(1));
    assert_eq!(read_all(&log), vec![(Seq(1), purchase("tux", "r0"))]);
    assert_eq!(counts_of(&log), before);
    drop(log);

    let log = EventLog::<CatalogEvent>::open_existing(&path, Counts).unwrap();
    assert_eq!(log.last_seq(), Seq(1));
    assert_eq!(read_all(&log).len(), 1);
    assert_eq!(counts_of(&log), before);
    assert_eq!(log.append_blocking(vec![event(1)]).unwrap(), vec![Seq(2)]);
}
