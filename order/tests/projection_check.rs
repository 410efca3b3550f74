//! `OrderProjection::check` (what `tools replay` runs) on small logs whose request index is
//! right, forged, short of a key, long by one, or whose events place a request id twice:
//! the digests agree exactly when the keys do, and the slow path names each difference.
//!
//! The logs are written with no projection, so that any events can be stored, and the index
//! is then written by hand, as a damaged file could hold it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::order;

use toystore_events::{OrderEvent, OrderNumber, Seq};
use toystore_order::projection::{index_key, OrderProjection, REQUEST_INDEX};
use toystore_store::check::{Check, Contiguous, SHOWN};
use toystore_store::{EventLog, NoProjection, Projection};

/// `r0`, `r1`, ... as order 0, 1, ...
fn orders(n: u64) -> Vec<(u64, String)> {
    (0..n).map(|i| (i, format!("r{i}"))).collect()
}

fn key(number: u64, request_id: &str) -> u64 {
    index_key(request_id, OrderNumber(number)).unwrap()
}

/// The index keys `orders` imply.
fn keys(orders: &[(u64, String)]) -> Vec<u64> {
    orders.iter().map(|(n, id)| key(*n, id)).collect()
}

/// Checks a log of `events` (order number, request id) whose index holds `index`.
fn check(events: &[(u64, String)], index: Vec<u64>) -> Check {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("order.redb"), NoProjection).unwrap();
    let events: Vec<_> = events.iter().map(|(n, id)| order(*n, id)).collect();
    if !events.is_empty() {
        log.append_blocking(events).unwrap();
    }
    log.execute_blocking(move |b| {
        let mut table = b.tables().open(REQUEST_INDEX)?;
        for key in index {
            table.insert(key, ())?;
        }
        Ok(())
    })
    .unwrap();
    let tables = log.read().unwrap();
    let mut events = Contiguous::new(
        tables.events_after::<OrderEvent>(Seq::ZERO).unwrap(),
        Seq::ZERO,
    );
    OrderProjection.check(&tables, &mut events).unwrap()
}

/// (stored only, rebuilt only) of the index.
fn counts(check: &Check) -> (u64, u64) {
    let t = &check.tables[0];
    (t.only_stored, t.only_rebuilt)
}

#[test]
fn a_right_index_and_an_empty_log_are_consistent() {
    let o = orders(300);
    let c = check(&o, keys(&o));
    assert!(c.consistent(), "{c:?}");
    assert_eq!((c.stored_rows(), c.rebuilt_rows()), (300, 300));
    // An empty log, as a service leaves it (a batch that writes nothing commits nothing,
    // so `check` cannot make this one).
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("order.redb"), OrderProjection).unwrap();
    let tables = log.read().unwrap();
    let mut events = Contiguous::new(
        tables.events_after::<OrderEvent>(Seq::ZERO).unwrap(),
        Seq::ZERO,
    );
    let c = OrderProjection.check(&tables, &mut events).unwrap();
    assert!(c.consistent(), "{c:?}");
    assert_eq!((c.stored_rows(), c.rebuilt_rows()), (0, 0));
}

#[test]
fn a_forged_key_is_paired_with_the_one_its_order_implies() {
    let o = orders(50);
    let mut index = keys(&o);
    index[7] = key(7, "forged");
    let c = check(&o, index);
    assert!(!c.consistent());
    assert_eq!(counts(&c), (1, 1));
    assert_eq!(c.differences.len(), 1, "{c:?}");
    let d = &c.differences[0];
    assert_eq!(d.table, "request_index");
    assert!(d.stored.as_deref().unwrap().ends_with("order=7"), "{d:?}");
    assert!(d.rebuilt.as_deref().unwrap().ends_with("order=7"), "{d:?}");
    assert_ne!(d.stored, d.rebuilt);
    assert_eq!(d.note.as_deref(), Some("order 7 has request id \"r7\""));
    assert_eq!(c.refused, None);
}

#[test]
fn a_missing_key_is_rebuilt_only() {
    let o = orders(50);
    let mut index = keys(&o);
    let missing = index.remove(20);
    let c = check(&o, index);
    assert!(!c.consistent());
    assert_eq!(counts(&c), (0, 1));
    assert_eq!((c.stored_rows(), c.rebuilt_rows()), (49, 50));
    let d = &c.differences[0];
    assert_eq!(d.stored, None);
    assert_eq!(
        d.rebuilt.as_deref(),
        Some(format!("request hash {:07x} order=20", missing >> 36).as_str())
    );
}

#[test]
fn an_extra_key_is_stored_only_with_why() {
    let o = orders(50);
    // A key for an order the log lacks.
    let mut index = keys(&o);
    index.push(key(50, "r50"));
    let c = check(&o, index);
    assert_eq!(counts(&c), (1, 0));
    let d = &c.differences[0];
    assert_eq!(d.rebuilt, None);
    assert_eq!(d.note.as_deref(), Some("the log has no order 50"));
    // A second key for an order that has its own.
    let mut index = keys(&o);
    index.push(key(3, "forged"));
    let c = check(&o, index);
    assert_eq!(counts(&c), (1, 0));
    assert_eq!(c.differences[0].rebuilt, None);
    assert_eq!(
        c.differences[0].note.as_deref(),
        Some("order 3 has request id \"r3\"")
    );
}

#[test]
fn a_request_id_placed_twice_is_refused_whether_the_index_has_both_keys_or_not() {
    let mut o = orders(40);
    o.push((40, "r12".to_string()));
    // The index a rebuild would make if `apply` let the second through.
    let c = check(&o, keys(&o));
    assert_eq!(
        c.refused.as_deref(),
        Some("projection request_index: request id r12 placed twice (order 12 and seq 41)")
    );
    assert!(!c.consistent());
    // The index of the event as it was before it was rewritten to repeat r12.
    let mut index = keys(&o);
    index[40] = key(40, "r40");
    let c = check(&o, index);
    assert_eq!(
        c.refused.as_deref(),
        Some("projection request_index: request id r12 placed twice (order 12 and seq 41)")
    );
    assert_eq!(counts(&c), (1, 1));
}

#[test]
fn a_number_that_is_not_seq_minus_one_stops_the_replay() {
    let o = vec![(0, "a".to_string()), (5, "b".to_string())];
    let c = check(&o, keys(&o));
    assert_eq!(
        c.refused.as_deref(),
        Some("projection request_index: order 5 at seq 2: numbers must be seq - 1")
    );
    assert!(!c.tables[0].equal);
}

#[test]
fn many_differences_are_all_counted_and_the_first_few_listed() {
    let o = orders(100);
    let index: Vec<u64> = o.iter().map(|(n, _)| key(*n, "wrong")).collect();
    let c = check(&o, index);
    assert_eq!(counts(&c), (100, 100));
    assert_eq!(c.differences.len(), SHOWN);
    assert!(c
        .differences
        .iter()
        .all(|d| d.stored.is_some() && d.rebuilt.is_some()));
    assert!(c.refused.is_none());
}
