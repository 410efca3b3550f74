//! Proves `Batch::truncate_after` removes exactly the tail and rebuilds the projection from
//! the events that remain (durably, across a reopen), and that a panicking request fails its
//! own batch without killing the writer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{counts_of, event, expected_counts, open_counts, read_all};
use toystore_store::{Seq, StoreError};

#[test]
fn truncate_removes_the_tail_and_rebuilds_the_projection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.redb");
    let log = open_counts(&path);
    let events: Vec<_> = (0..10).map(event).collect();
    log.append_blocking(events.clone()).unwrap();
    let removed = log.execute_blocking(|b| b.truncate_after(Seq(6))).unwrap();
    assert_eq!(removed, 4);
    assert_eq!(log.last_seq(), Seq(6));
    let kept: Vec<_> = read_all(&log).into_iter().map(|(_, e)| e).collect();
    assert_eq!(kept, events[..6].to_vec());
    assert_eq!(counts_of(&log), expected_counts(&events[..6]));
    // The next append continues right after the truncation point.
    assert_eq!(log.append_blocking(vec![event(42)]).unwrap(), vec![Seq(7)]);
    drop(log);

    let log = open_counts(&path);
    assert_eq!(log.last_seq(), Seq(7));
    let mut expected = events[..6].to_vec();
    expected.push(event(42));
    assert_eq!(counts_of(&log), expected_counts(&expected));
}

#[test]
fn a_panicking_request_fails_alone_and_the_log_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_counts(&dir.path().join("log.redb"));
    let result: Result<(), StoreError> = log.execute_blocking(|b| {
        b.append(&event(1))?;
        panic!("boom");
    });
    assert!(matches!(result, Err(StoreError::Aborted(_))), "{result:?}");
    assert_eq!(log.last_seq(), Seq::ZERO);
    assert_eq!(log.append_blocking(vec![event(2)]).unwrap(), vec![Seq(1)]);
}
