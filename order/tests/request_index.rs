//! The order projection's request-id index on a real event log: lookups through hash
//! collisions, duplicates refused, a truncated tail taken back out of the index, and a file
//! of the first layout (orders and requests tables) rebuilt into the index when opened.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{colliding_ids, order};

use toystore_events::{OrderEvent, OrderNumber, Seq};
use toystore_order::projection::{
    find_in, index_key, prefix, OrderProjection, LEGACY_ORDERS, LEGACY_REQUESTS, REQUEST_INDEX,
};
use toystore_store::{EventLog, NoProjection, StoreError};

fn found(log: &EventLog<OrderEvent>, request_id: &str) -> Option<u64> {
    find_in(&log.read().unwrap(), request_id)
        .unwrap()
        .map(|(number, _)| number.0)
}

#[test]
fn request_ids_find_their_orders_and_unknown_ones_none() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("o.redb"), OrderProjection).unwrap();
    let events: Vec<_> = (0..500).map(|n| order(n, &format!("req-{n}"))).collect();
    log.append_blocking(events).unwrap();
    for n in [0, 1, 250, 499] {
        assert_eq!(found(&log, &format!("req-{n}")), Some(n));
    }
    assert_eq!(found(&log, "req-500"), None);
    assert_eq!(
        log.read()
            .unwrap()
            .open(REQUEST_INDEX)
            .unwrap()
            .len()
            .unwrap(),
        500
    );
}

#[test]
fn a_key_under_the_same_hash_prefix_is_checked_against_its_event() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("o.redb"), OrderProjection).unwrap();
    log.append_blocking(vec![order(0, "alpha"), order(1, "beta")])
        .unwrap();
    // Collisions: under each id's prefix, a row naming the other's order (one sorts before
    // the id's own row, one after).
    log.execute_blocking(|batch| {
        let mut index = batch.tables().open(REQUEST_INDEX)?;
        index.insert(prefix("beta"), ())?;
        index.insert(prefix("alpha") | 1, ())?;
        Ok(())
    })
    .unwrap();
    assert_eq!(found(&log, "alpha"), Some(0));
    assert_eq!(found(&log, "beta"), Some(1));
    assert_eq!(found(&log, "gamma"), None);
}

#[test]
fn an_index_row_whose_order_is_missing_is_an_error_not_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("o.redb"), OrderProjection).unwrap();
    log.append_blocking(vec![order(0, "alpha")]).unwrap();
    log.execute_blocking(|batch| {
        batch
            .tables()
            .open(REQUEST_INDEX)?
            .insert(index_key("ghost", OrderNumber(7))?, ())?;
        Ok(())
    })
    .unwrap();
    let err = find_in(&log.read().unwrap(), "ghost").unwrap_err();
    assert!(matches!(err, StoreError::Projection { .. }), "{err}");
}

#[test]
fn a_request_id_placed_twice_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("o.redb"), OrderProjection).unwrap();
    log.append_blocking(vec![order(0, "alpha")]).unwrap();
    let err = log.append_blocking(vec![order(1, "alpha")]).unwrap_err();
    assert!(matches!(err, StoreError::Projection { .. }), "{err}");
    assert_eq!(log.last_seq(), Seq(1));
    assert_eq!(found(&log, "alpha"), Some(0));
}

#[test]
fn a_truncated_tail_leaves_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("o.redb"), OrderProjection).unwrap();
    let events: Vec<_> = (0..10).map(|n| order(n, &format!("req-{n}"))).collect();
    log.append_blocking(events).unwrap();
    let removed = log
        .execute_blocking(|batch| batch.truncate_after(Seq(6)))
        .unwrap();
    assert_eq!(removed, 4);
    assert_eq!(found(&log, "req-5"), Some(5));
    for n in 6..10 {
        assert_eq!(found(&log, &format!("req-{n}")), None, "req-{n}");
    }
    assert_eq!(
        log.read()
            .unwrap()
            .open(REQUEST_INDEX)
            .unwrap()
            .len()
            .unwrap(),
        6
    );
    // The id can be placed again, as the next order.
    log.append_blocking(vec![order(6, "req-8")]).unwrap();
    assert_eq!(found(&log, "req-8"), Some(6));
}

#[test]
fn a_file_of_the_first_layout_is_rebuilt_into_the_index_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    {
        // The events, and the version-1 tables, written with no projection (whose version,
        // 1, the file records).
        let log: EventLog<OrderEvent> = EventLog::open(&path, NoProjection).unwrap();
        log.append_blocking((0..20).map(|n| order(n, &format!("req-{n}"))).collect())
            .unwrap();
        log.execute_blocking(|batch| {
            let tables = batch.tables();
            let mut orders = tables.open(LEGACY_ORDERS)?;
            let mut requests = tables.open(LEGACY_REQUESTS)?;
            for n in 0..20u64 {
                orders.insert(n, ("Tux", 2u32))?;
                requests.insert(format!("req-{n}").as_str(), n)?;
            }
            Ok(())
        })
        .unwrap();
        log.close();
    }
    let log = EventLog::open_existing(&path, OrderProjection).unwrap();
    let tables = log.read().unwrap();
    assert_eq!(tables.open(REQUEST_INDEX).unwrap().len().unwrap(), 20);
    assert!(
        tables.open(LEGACY_ORDERS).is_err(),
        "orders table left behind"
    );
    assert!(
        tables.open(LEGACY_REQUESTS).is_err(),
        "requests table left behind"
    );
    drop(tables);
    for n in 0..20 {
        assert_eq!(found(&log, &format!("req-{n}")), Some(n));
    }
    let dump = toystore_store::Projection::dump(&OrderProjection, &log.read().unwrap()).unwrap();
    assert_eq!(dump.len(), 20);
    assert!(dump[0].starts_with("request hash "), "{}", dump[0]);
}

#[test]
fn colliding_request_ids_are_told_apart_through_an_upgrade_and_a_truncation() {
    let (first, second) = colliding_ids();
    assert_eq!(prefix(&first), prefix(&second));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    {
        let log: EventLog<OrderEvent> = EventLog::open(&path, NoProjection).unwrap();
        log.append_blocking(vec![order(0, &first), order(1, "other"), order(2, &second)])
            .unwrap();
        log.close();
    }
    // The rebuild for version 2 reads the first id's event while indexing the second.
    let log = EventLog::open_existing(&path, OrderProjection).unwrap();
    assert_eq!(found(&log, &first), Some(0));
    assert_eq!(found(&log, &second), Some(2));
    log.execute_blocking(|batch| batch.truncate_after(Seq(2)))
        .unwrap();
    assert_eq!(found(&log, &first), Some(0));
    assert_eq!(found(&log, &second), None);
    let err = log.append_blocking(vec![order(2, &first)]).unwrap_err();
    assert!(matches!(err, StoreError::Projection { .. }), "{err}");
}
