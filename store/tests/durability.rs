//! Appends survive reopening: whatever an `append` (async or blocking) or an `execute`
//! acknowledged is in the file after the log is closed or dropped and opened again, in the
//! same order, with the same sequence numbers, and `last_seq` and the projection agree with
//! it; a log reopened after that keeps numbering where it stopped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{counts_of, event, expected_counts, open_counts, read_all, Counts};
use toystore_events::CatalogEvent;
use toystore_store::{EventLog, NoProjection, Seq};

#[tokio::test]
async fn appends_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let events: Vec<CatalogEvent> = (0..25).map(event).collect();

    let log = open_counts(&path);
    assert_eq!(log.last_seq(), Seq::ZERO);
    let mut seqs = Vec::new();
    for chunk in events.chunks(4) {
        seqs.extend(log.append(chunk.to_vec()).await.unwrap());
    }
    assert_eq!(seqs, (1..=25).map(Seq).collect::<Vec<_>>());
    assert_eq!(log.last_seq(), Seq(25));
    log.close();

    let log = EventLog::<CatalogEvent>::open_existing(&path, Counts).unwrap();
    assert_eq!(log.last_seq(), Seq(25));
    let stored = read_all(&log);
    assert_eq!(
        stored,
        seqs.iter()
            .copied()
            .zip(events.iter().cloned())
            .collect::<Vec<_>>()
    );
    assert_eq!(counts_of(&log), expected_counts(&events));

    // Numbering continues after the reopen, and the continuation survives a drop too.
    let more = log.append(vec![event(100), event(101)]).await.unwrap();
    assert_eq!(more, vec![Seq(26), Seq(27)]);
    drop(log);

    let log = open_counts(&path);
    assert_eq!(log.last_seq(), Seq(27));
    let stored = read_all(&log);
    assert_eq!(stored.len(), 27);
    assert_eq!(stored[25], (Seq(26), event(100)));
    assert_eq!(stored[26], (Seq(27), event(101)));
    let all: Vec<_> = stored.into_iter().map(|(_, e)| e).collect();
    assert_eq!(counts_of(&log), expected_counts(&all));
}

#[test]
fn blocking_appends_and_execute_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");

    let log = EventLog::<CatalogEvent>::open(&path, NoProjection).unwrap();
    assert_eq!(log.append_blocking(vec![event(0)]).unwrap(), vec![Seq(1)]);
    let (seen_before, seq) = log
        .execute_blocking(|b| {
            let before = b.last_seq();
            let seq = b.append(&event(1))?;
            assert_eq!(b.last_seq(), seq, "last_seq includes this batch's appends");
            Ok((before, seq))
        })
        .unwrap();
    assert_eq!((seen_before, seq), (Seq(1), Seq(2)));
    // An empty append commits nothing and changes nothing.
    assert_eq!(log.append_blocking(Vec::new()).unwrap(), Vec::<Seq>::new());
    assert_eq!(log.last_seq(), Seq(2));
    drop(log);

    let log = EventLog::<CatalogEvent>::open_existing(&path, NoProjection).unwrap();
    assert_eq!(log.last_seq(), Seq(2));
    assert_eq!(read_all(&log), vec![(Seq(1), event(0)), (Seq(2), event(1))]);
}

#[tokio::test]
async fn subscribers_see_each_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_counts(&dir.path().join("catalog.redb"));
    let mut rx = log.subscribe();
    assert_eq!(*rx.borrow_and_update(), Seq::ZERO);
    let seqs = log
        .append(vec![event(0), event(1), event(2)])
        .await
        .unwrap();
    // The watch was updated before the append was answered.
    assert!(rx.has_changed().unwrap());
    assert_eq!(*rx.borrow_and_update(), Seq(3));
    assert_eq!(seqs.last(), Some(&Seq(3)));
    log.append(vec![event(3)]).await.unwrap();
    rx.changed().await.unwrap();
    assert_eq!(*rx.borrow(), Seq(4));
    assert_eq!(log.last_seq(), Seq(4));
}
