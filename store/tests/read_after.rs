//! `read_after(s)` returns exactly the suffix of the log after `s`: the whole log for
//! `Seq::ZERO`, nothing for the last sequence number or beyond it, and the same suffix as
//! stored bytes from `read_raw_after`. A reader's snapshot is taken when it is created, so
//! later appends do not show up in it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{event, open_counts};
use toystore_events::{codec, CatalogEvent};
use toystore_store::{EventLog, Seq};

fn suffix(log: &EventLog<CatalogEvent>, after: u64) -> Vec<(Seq, CatalogEvent)> {
    log.read_after(Seq(after))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[test]
fn read_after_returns_exactly_the_suffix() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_counts(&dir.path().join("catalog.redb"));
    assert!(
        suffix(&log, 0).is_empty(),
        "an empty log has nothing to read"
    );
    assert!(suffix(&log, 5).is_empty());

    const N: u64 = 20;
    let events: Vec<_> = (0..N).map(event).collect();
    log.append_blocking(events[..7].to_vec()).unwrap();
    log.append_blocking(events[7..].to_vec()).unwrap();
    let full: Vec<_> = (1..=N).map(Seq).zip(events.iter().cloned()).collect();

    for after in 0..=N + 3 {
        let expected: Vec<_> = full.iter().filter(|(s, _)| s.0 > after).cloned().collect();
        assert_eq!(suffix(&log, after), expected, "read_after({after})");

        let raw: Vec<_> = log
            .read_raw_after(Seq(after))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let expected_raw: Vec<_> = expected
            .iter()
            .map(|(s, e)| (*s, codec::encode(e)))
            .collect();
        assert_eq!(raw, expected_raw, "read_raw_after({after})");
    }
    assert_eq!(suffix(&log, 0).len(), N as usize);
    assert!(suffix(&log, N).is_empty(), "nothing after the last event");
    assert!(suffix(&log, u64::MAX).is_empty(), "no overflow at the top");
}

#[test]
fn a_reader_sees_the_snapshot_it_was_created_on() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_counts(&dir.path().join("catalog.redb"));
    log.append_blocking(vec![event(0), event(1)]).unwrap();
    let reader = log.read_after(Seq(1)).unwrap();
    log.append_blocking(vec![event(2)]).unwrap();
    let seen: Vec<_> = reader.map(|r| r.unwrap().0).collect();
    assert_eq!(seen, vec![Seq(2)]);
    assert_eq!(
        suffix(&log, 1),
        vec![(Seq(2), event(1)), (Seq(3), event(2))]
    );
}
