//! `CatalogProjection::check` (what `tools replay` runs) on small logs: right tables, a
//! changed stock row, purchases rows forged, missing or pointing at another event, a
//! request id bought twice, and events `apply` refuses.
//!
//! The logs are written with no projection, so that any events can be stored; the tables
//! are then written by `apply` itself, and damaged by hand, as a damaged file could hold them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use toystore_catalog::projection::{CatalogProjection, PURCHASES, STOCK};
use toystore_events::{CatalogEvent, Seq};
use toystore_store::check::{Check, Contiguous};
use toystore_store::{EventLog, NoProjection, Projection, StoreError, WriteTables};

fn added(name: &str, quantity: u32) -> CatalogEvent {
    CatalogEvent::ProductAdded {
        name: name.try_into().unwrap(),
        price: 9.5,
        quantity,
    }
}

fn bought(request_id: &str, name: &str, quantity: u32) -> CatalogEvent {
    CatalogEvent::Purchased {
        request_id: request_id.try_into().unwrap(),
        name: name.try_into().unwrap(),
        quantity: quantity.try_into().unwrap(),
    }
}

/// Two toys, then `n` purchases `r0`, `r1`, ... (seq 3, 4, ...) and a restock.
fn healthy(n: u32) -> Vec<CatalogEvent> {
    let mut events = vec![added("Tux", 1000), added("Whale", 5)];
    events.extend((0..n).map(|i| bought(&format!("r{i}"), "Tux", 1)));
    events.push(CatalogEvent::Restocked {
        name: "Whale".try_into().unwrap(),
        added: 3,
    });
    events
}

/// Checks a log of `events` whose tables `apply` wrote (as far as it accepts them; the rest
/// of the events are stored all the same), then `damage` changed.
fn check(
    events: Vec<CatalogEvent>,
    damage: impl FnOnce(&WriteTables<'_>) -> Result<(), StoreError> + Send + 'static,
) -> Check {
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("catalog.redb"), NoProjection).unwrap();
    if !events.is_empty() {
        log.append_blocking(events.clone()).unwrap();
    }
    log.execute_blocking(move |b| {
        let tables = b.tables();
        CatalogProjection.init(&tables)?;
        for (i, event) in events.iter().enumerate() {
            if CatalogProjection
                .apply(&tables, Seq(i as u64 + 1), event)
                .is_err()
            {
                break;
            }
        }
        damage(&tables)
    })
    .unwrap();
    let tables = log.read().unwrap();
    let mut events = Contiguous::new(
        tables.events_after::<CatalogEvent>(Seq::ZERO).unwrap(),
        Seq::ZERO,
    );
    CatalogProjection.check(&tables, &mut events).unwrap()
}

fn table<'a>(check: &'a Check, name: &str) -> &'a toystore_store::check::TableCheck {
    check.tables.iter().find(|t| t.table == name).unwrap()
}

#[test]
fn right_tables_and_an_empty_log_are_consistent() {
    let c = check(healthy(200), |_| Ok(()));
    assert!(c.consistent(), "{c:?}");
    assert_eq!(
        (table(&c, "stock").stored, table(&c, "stock").rebuilt),
        (2, 2)
    );
    assert_eq!(table(&c, "purchases").stored, 200);
    assert_eq!((c.stored_rows(), c.rebuilt_rows()), (202, 202));
    // An empty log, as a service leaves it (a batch that writes nothing commits nothing,
    // so `check` cannot make this one).
    let dir = tempfile::tempdir().unwrap();
    let log = EventLog::open(dir.path().join("catalog.redb"), CatalogProjection).unwrap();
    let tables = log.read().unwrap();
    let mut events = Contiguous::new(
        tables.events_after::<CatalogEvent>(Seq::ZERO).unwrap(),
        Seq::ZERO,
    );
    let c = CatalogProjection.check(&tables, &mut events).unwrap();
    assert!(c.consistent(), "{c:?}");
    assert_eq!((c.stored_rows(), c.rebuilt_rows()), (0, 0));
}

#[test]
fn a_changed_stock_row_is_shown_stored_and_rebuilt() {
    let c = check(healthy(10), |t| {
        t.open(STOCK)?.insert("Tux", (9.5, 4242))?;
        Ok(())
    });
    assert!(!c.consistent());
    assert_eq!(c.differences.len(), 1, "{c:?}");
    let d = &c.differences[0];
    assert_eq!(d.table, "stock");
    assert_eq!(
        d.stored.as_deref(),
        Some("stock \"Tux\" price=9.5 quantity=4242")
    );
    assert_eq!(
        d.rebuilt.as_deref(),
        Some("stock \"Tux\" price=9.5 quantity=990")
    );
    assert!(table(&c, "purchases").equal);
}

#[test]
fn a_forged_purchase_row_is_stored_only_with_what_its_event_is() {
    let c = check(healthy(10), |t| {
        t.open(PURCHASES)?.insert("forged", 4)?;
        Ok(())
    });
    let p = table(&c, "purchases");
    assert_eq!((p.only_stored, p.only_rebuilt), (1, 0));
    let d = &c.differences[0];
    assert_eq!(d.stored.as_deref(), Some("purchase \"forged\" seq=4"));
    assert_eq!(d.rebuilt, None);
    assert_eq!(
        d.note.as_deref(),
        Some("event 4 is a purchase under request id \"r1\"")
    );
}

#[test]
fn a_missing_row_is_rebuilt_only_and_a_moved_one_is_paired() {
    let c = check(healthy(10), |t| {
        t.open(PURCHASES)?.remove("r5")?;
        Ok(())
    });
    let p = table(&c, "purchases");
    assert_eq!(
        (p.stored, p.rebuilt, p.only_stored, p.only_rebuilt),
        (9, 10, 0, 1)
    );
    assert_eq!(
        c.differences[0].rebuilt.as_deref(),
        Some("purchase \"r5\" seq=8")
    );
    assert_eq!(c.differences[0].stored, None);

    let c = check(healthy(10), |t| {
        t.open(PURCHASES)?.insert("r5", 1)?;
        Ok(())
    });
    let p = table(&c, "purchases");
    assert_eq!((p.only_stored, p.only_rebuilt), (1, 1));
    assert_eq!(c.differences.len(), 1, "{c:?}");
    let d = &c.differences[0];
    assert_eq!(d.stored.as_deref(), Some("purchase \"r5\" seq=1"));
    assert_eq!(d.rebuilt.as_deref(), Some("purchase \"r5\" seq=8"));
}

#[test]
fn a_request_id_bought_twice_is_refused() {
    let mut events = healthy(10);
    events.push(bought("r3", "Tux", 1)); // seq 14
    let c = check(events, |_| Ok(()));
    assert_eq!(
        c.refused.as_deref(),
        Some("projection purchases: seq 14: request id r3 bought twice")
    );
    assert!(!c.consistent());
}

#[test]
fn events_apply_refuses_stop_the_replay() {
    let c = check(vec![added("Tux", 1), bought("a", "Tux", 2)], |_| Ok(()));
    assert_eq!(
        c.refused.as_deref(),
        Some("projection stock: seq 2: Tux would go negative")
    );
    assert!(c.tables.iter().all(|t| !t.equal));
    let c = check(vec![added("Tux", 1), bought("a", "Whale", 1)], |_| Ok(()));
    assert_eq!(
        c.refused.as_deref(),
        Some("projection stock: seq 2: unknown toy Whale")
    );
    let c = check(vec![added("Tux", 1), added("Tux", 2)], |_| Ok(()));
    assert_eq!(
        c.refused.as_deref(),
        Some("projection stock: Tux added twice (seq 2)")
    );
}

/// An experiment, not a test: the check's speed on a catalog log of many purchases (what
/// `tools replay` of it costs). `CHECK_PURCHASES` (default 1,000,000) purchases of 20 toys
/// under UUID-like request ids; with `CHECK_KEEP=FILE` the log is written there (a new
/// file) and kept, for timing `tools replay FILE`.
///
/// ```text
/// CHECK_KEEP=/tmp/catalog-1m.redb cargo test --release -p toystore-catalog \
///     --test projection_check -- --ignored --nocapture
/// ```
#[test]
#[ignore = "an experiment: run with --ignored --nocapture"]
fn check_speed_on_many_purchases() {
    let purchases: u64 = std::env::var("CHECK_PURCHASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::var("CHECK_KEEP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("catalog.redb"));
    let log = EventLog::open(&path, CatalogProjection).unwrap();
    let toys: Vec<String> = (0..20).map(|i| format!("Toy {i}")).collect();
    log.append_blocking(toys.iter().map(|t| added(t, u32::MAX)).collect())
        .unwrap();
    let started = std::time::Instant::now();
    let mut i = 0u64;
    while i < purchases {
        let chunk: Vec<_> = (i..purchases.min(i + 100_000))
            .map(|n| {
                let id = format!("{:016x}-{n:08}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                bought(&id, &toys[(n % 20) as usize], 1)
            })
            .collect();
        i += chunk.len() as u64;
        log.append_blocking(chunk).unwrap();
    }
    eprintln!(
        "wrote {purchases} purchases in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let tables = log.read().unwrap();
    let started = std::time::Instant::now();
    let mut events = Contiguous::new(
        tables.events_after::<CatalogEvent>(Seq::ZERO).unwrap(),
        Seq::ZERO,
    );
    let c = CatalogProjection.check(&tables, &mut events).unwrap();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "check: {secs:.2} s, {:.0} events/s, consistent: {}",
        (purchases + 20) as f64 / secs,
        c.consistent()
    );
    assert!(c.consistent(), "{c:?}");
}
