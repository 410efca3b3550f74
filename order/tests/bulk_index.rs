//! The request-id index built in key order (`toystore_order::bulk`) against the one built
//! event by event, and events appended without the projection (`Batch::
//! append_all_at_unprojected`, how a replica receives a snapshot): applied by `project`,
//! by the next projected append, or by the next open; truncated with or without an undo;
//! a request id placed twice refused by the bulk build as by `apply`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::{colliding_ids, order};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use toystore_events::{codec, OrderEvent, Seq};
use toystore_order::bulk::Sort;
use toystore_order::projection::{find_in, OrderProjection};
use toystore_store::{Check, EventLog, Projection, ReadTables, StoreError, Table, WriteTables};

/// The order projection with tiny sort runs and blocks, so a few hundred orders make many
/// runs of several blocks to merge.
/// It counts the events its `apply` takes one by one, so a test can tell the bulk build ran.
#[derive(Clone, Default)]
struct SmallRuns {
    applied: Arc<AtomicU64>,
}

const SMALL: Sort = Sort {
    run_keys: 37,
    block_keys: 5,
};

impl Projection<OrderEvent> for SmallRuns {
    fn version(&self) -> u32 {
        OrderProjection.version()
    }
    fn init(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        OrderProjection.init(tables)
    }
    fn apply(
        &self,
        tables: &WriteTables<'_>,
        seq: Seq,
        event: &OrderEvent,
    ) -> Result<(), StoreError> {
        self.applied.fetch_add(1, Ordering::Relaxed);
        OrderProjection.apply(tables, seq, event)
    }
    fn apply_from(&self, tables: &WriteTables<'_>, after: Seq) -> Result<(), StoreError> {
        SMALL.apply_from(tables, after)
    }
    fn undo(
        &self,
        tables: &WriteTables<'_>,
        seq: Seq,
        event: &OrderEvent,
    ) -> Result<bool, StoreError> {
        OrderProjection.undo(tables, seq, event)
    }
    fn clear(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        OrderProjection.clear(tables)
    }
    fn dump(&self, tables: &ReadTables) -> Result<Vec<String>, StoreError> {
        OrderProjection.dump(tables)
    }
    fn check(
        &self,
        tables: &ReadTables,
        events: &mut dyn Iterator<Item = Result<(Seq, OrderEvent), StoreError>>,
    ) -> Result<Check, StoreError> {
        OrderProjection.check(tables, events)
    }
}

/// Orders `from..to`, request ids `req-n` except where `ids` says otherwise.
fn orders(from: u64, to: u64, ids: &[(u64, &str)]) -> Vec<OrderEvent> {
    (from..to)
        .map(|n| match ids.iter().find(|(at, _)| *at == n) {
            Some((_, id)) => order(n, id),
            None => order(n, &format!("req-{n}")),
        })
        .collect()
}

/// Encoded events at seqs number + 1.
fn encoded(events: &[OrderEvent]) -> Vec<(Seq, Vec<u8>)> {
    events
        .iter()
        .map(|e| {
            let OrderEvent::OrderPlaced { number, .. } = e;
            (Seq(number.0 + 1), codec::encode(e))
        })
        .collect()
}

/// Appends `events` without the projection, in one transaction; then `project` if asked.
fn append_unprojected(
    log: &EventLog<OrderEvent>,
    events: &[OrderEvent],
    project: bool,
) -> Result<(), StoreError> {
    let raw = encoded(events);
    log.execute_blocking(move |batch| {
        let refs: Vec<(Seq, &[u8])> = raw.iter().map(|(s, b)| (*s, b.as_slice())).collect();
        batch.append_all_at_unprojected(&refs)?;
        if project {
            batch.project()?;
        }
        Ok(())
    })
}

fn dump(log: &EventLog<OrderEvent>) -> Vec<String> {
    OrderProjection.dump(&log.read().unwrap()).unwrap()
}

fn found(log: &EventLog<OrderEvent>, request_id: &str) -> Option<u64> {
    find_in(&log.read().unwrap(), request_id)
        .unwrap()
        .map(|(number, _)| number.0)
}

#[test]
fn the_index_built_in_key_order_is_the_one_built_event_by_event() {
    let (first, second) = colliding_ids();
    let ids = [(3, first.as_str()), (250, second.as_str())];
    let all = orders(0, 400, &ids);
    let dir = tempfile::tempdir().unwrap();
    let reference = EventLog::open(dir.path().join("a.redb"), OrderProjection).unwrap();
    reference.append_blocking(all.clone()).unwrap();

    // From empty: 400 keys in 11 runs of up to 8 blocks, merged.
    let small = SmallRuns::default();
    let bulk = EventLog::open(dir.path().join("b.redb"), small.clone()).unwrap();
    append_unprojected(&bulk, &all, true).unwrap();
    assert_eq!(
        small.applied.load(Ordering::Relaxed),
        0,
        "the bulk build applied events one by one"
    );
    assert_eq!(dump(&bulk), dump(&reference));
    assert_eq!(found(&bulk, &first), Some(3));
    assert_eq!(found(&bulk, &second), Some(250));

    // Onto an index that has keys already (a replica that held a prefix of the snapshot).
    let small = SmallRuns::default();
    let lagging = EventLog::open(dir.path().join("c.redb"), small.clone()).unwrap();
    lagging.append_blocking(all[..100].to_vec()).unwrap();
    append_unprojected(&lagging, &all[100..], true).unwrap();
    assert_eq!(small.applied.load(Ordering::Relaxed), 100);
    assert_eq!(dump(&lagging), dump(&reference));
    assert_eq!(dump(&lagging).len(), 400);
    let scratch = Table::<u64, &'static [u8]>::new("request_index_runs");
    let left = lagging.read().unwrap().open_if_exists(scratch).unwrap();
    assert!(
        left.is_none(),
        "the sort's scratch table outlived the build"
    );
}

#[test]
fn a_request_id_placed_twice_is_refused_by_the_bulk_build_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    // Twice among the new orders, in different runs.
    let log = EventLog::open(dir.path().join("a.redb"), SmallRuns::default()).unwrap();
    let twice = orders(0, 200, &[(10, "dup"), (150, "dup")]);
    let err = append_unprojected(&log, &twice, true).unwrap_err();
    assert!(matches!(err, StoreError::Projection { .. }), "{err}");
    assert_eq!(log.last_seq(), Seq::ZERO);

    // A new order with the request id of one the index held before.
    let log = EventLog::open(dir.path().join("b.redb"), SmallRuns::default()).unwrap();
    log.append_blocking(orders(0, 50, &[(20, "dup")])).unwrap();
    let err = append_unprojected(&log, &orders(50, 120, &[(90, "dup")]), true).unwrap_err();
    assert!(matches!(err, StoreError::Projection { .. }), "{err}");
    assert_eq!(log.last_seq(), Seq(50));
    assert_eq!(dump(&log).len(), 50);

    // Colliding prefixes of different ids, one held before and one new, are no duplicate.
    let (first, second) = colliding_ids();
    let log = EventLog::open(dir.path().join("c.redb"), SmallRuns::default()).unwrap();
    log.append_blocking(orders(0, 50, &[(7, first.as_str())]))
        .unwrap();
    append_unprojected(&log, &orders(50, 120, &[(77, second.as_str())]), true).unwrap();
    assert_eq!(found(&log, &first), Some(7));
    assert_eq!(found(&log, &second), Some(77));
}

#[test]
fn events_the_projection_lacks_are_applied_before_a_projected_append_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.redb");
    let log = EventLog::open(&path, OrderProjection).unwrap();
    log.append_blocking(orders(0, 10, &[])).unwrap();
    append_unprojected(&log, &orders(10, 30, &[]), false).unwrap();
    assert_eq!(log.last_seq(), Seq(30));
    assert_eq!(
        dump(&log).len(),
        10,
        "the projection lags until it is brought up"
    );
    // A projected append applies the lagging events first: its duplicate check sees them.
    let err = log.append_blocking(vec![order(30, "req-20")]).unwrap_err();
    assert!(matches!(err, StoreError::Projection { .. }), "{err}");
    log.append_blocking(vec![order(30, "req-30")]).unwrap();
    assert_eq!(dump(&log).len(), 31);
    assert_eq!(found(&log, "req-20"), Some(20));

    // Left lagging by a crash (here: a close), it still lags after the next open (the
    // events are a transfer's, not applied state) and is brought up before a projected
    // append, whose duplicate check sees them.
    append_unprojected(&log, &orders(31, 60, &[]), false).unwrap();
    log.close();
    let log = EventLog::open_existing(&path, OrderProjection).unwrap();
    assert_eq!(dump(&log).len(), 31);
    let err = log.append_blocking(vec![order(60, "req-59")]).unwrap_err();
    assert!(matches!(err, StoreError::Projection { .. }), "{err}");
    log.append_blocking(vec![order(60, "req-60")]).unwrap();
    assert_eq!(dump(&log).len(), 61);
    assert_eq!(found(&log, "req-59"), Some(59));
    let check = OrderProjection
        .check(
            &log.read().unwrap(),
            &mut log.read().unwrap().events_after(Seq::ZERO).unwrap(),
        )
        .unwrap();
    assert!(check.tables.iter().all(|t| t.equal), "{check:?}");
}

#[test]
fn a_truncation_removes_events_the_projection_lacks_without_undoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("o.redb"), OrderProjection).unwrap();
    log.append_blocking(orders(0, 10, &[])).unwrap();
    append_unprojected(&log, &orders(10, 30, &[]), false).unwrap();

    // Within the lagging events: the projection still lags, after the events that remain.
    let removed = log
        .execute_blocking(|batch| batch.truncate_after(Seq(20)))
        .unwrap();
    assert_eq!(removed, 10);
    assert_eq!(log.last_seq(), Seq(20));
    assert_eq!(dump(&log).len(), 10);
    log.execute_blocking(|batch| batch.project()).unwrap();
    assert_eq!(dump(&log).len(), 20);
    assert_eq!(found(&log, "req-25"), None);

    // Below where the projection reached: projected events are undone, the others dropped,
    // and the projection covers the log again (nothing left to apply).
    append_unprojected(&log, &orders(20, 40, &[]), false).unwrap();
    let removed = log
        .execute_blocking(|batch| batch.truncate_after(Seq(15)))
        .unwrap();
    assert_eq!(removed, 25);
    assert_eq!(dump(&log).len(), 15);
    log.append_blocking(orders(15, 18, &[(16, "req-35")]))
        .unwrap();
    assert_eq!(found(&log, "req-35"), Some(16));
    assert_eq!(found(&log, "req-14"), Some(14));
    assert_eq!(dump(&log).len(), 18);
}
