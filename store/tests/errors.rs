//! Bad files and bad values are reported, never misread:
//! - a corrupt or foreign value in the `events` table is a `StoreError::Decode` naming its
//!   sequence number, and the events around it still read;
//! - opening a catalog log as an order log is `Foreign` (and so is a file that is not a redb
//!   database, or a redb file with events but no kind); the refused file is left as it was;
//! - `open_existing` on a missing path is `Missing` and creates nothing;
//! - opening a file that is already open is `Locked`, and it opens again once closed;
//! - `append_at` refuses a sequence number that is not the next one (`OutOfOrder`) and a
//!   payload that does not decode (`Decode`), writing nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{event, open_counts, read_all, Counts};
use redb::{Database, TableDefinition};
use std::path::Path;
use toystore_events::{codec, CatalogEvent, OrderEvent, FORMAT_VERSION};
use toystore_store::{EventLog, NoProjection, Seq, StoreError};

const EVENTS: TableDefinition<'static, u64, &'static [u8]> = TableDefinition::new("events");

/// Writes `bytes` at `seq` in the events table of a closed log file, with redb directly.
fn overwrite(path: &Path, seq: u64, bytes: &[u8]) {
    let db = Database::open(path).unwrap();
    let tx = db.begin_write().unwrap();
    tx.open_table(EVENTS).unwrap().insert(seq, bytes).unwrap();
    tx.commit().unwrap();
}

fn order() -> OrderEvent {
    OrderEvent::OrderPlaced {
        number: 7.into(),
        request_id: "r7".try_into().unwrap(),
        name: "Tux".try_into().unwrap(),
        quantity: 2u32.try_into().unwrap(),
    }
}

#[test]
fn a_corrupt_value_is_a_decode_error_naming_its_seq() {
    let bad_values: Vec<(&str, Vec<u8>)> = vec![
        ("garbage", vec![0xde, 0xad, 0xbe, 0xef]),
        ("empty", Vec::new()),
        ("unknown version", vec![FORMAT_VERSION + 1, 0, 0]),
        ("unknown variant", vec![FORMAT_VERSION, 0x7f]),
        ("an order event in a catalog log", codec::encode(&order())),
    ];
    for (what, bytes) in bad_values {
        // The test means something only if the value really is not a catalog event.
        assert!(codec::decode::<CatalogEvent>(&bytes).is_err(), "{what}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        let log = open_counts(&path);
        log.append_blocking((0..5).map(event).collect()).unwrap();
        log.close();
        overwrite(&path, 3, &bytes);

        let log = open_counts(&path);
        assert_eq!(log.last_seq(), Seq(5), "{what}");
        let items: Vec<_> = log.read_after(Seq::ZERO).unwrap().collect();
        assert_eq!(items.len(), 5, "{what}");
        assert_eq!(items[0].as_ref().unwrap(), &(Seq(1), event(0)), "{what}");
        assert_eq!(items[1].as_ref().unwrap(), &(Seq(2), event(1)), "{what}");
        match &items[2] {
            Err(e @ StoreError::Decode { seq, .. }) => {
                assert_eq!(*seq, Seq(3), "{what}");
                assert!(e.to_string().contains("event 3"), "{what}: {e}");
            }
            other => panic!("{what}: expected a decode error at seq 3, got {other:?}"),
        }
        assert_eq!(items[3].as_ref().unwrap(), &(Seq(4), event(3)), "{what}");
        assert_eq!(items[4].as_ref().unwrap(), &(Seq(5), event(4)), "{what}");

        // Reading after it skips it; the raw bytes are there as written.
        let after: Vec<_> = log
            .read_after(Seq(3))
            .unwrap()
            .map(|r| r.unwrap().0)
            .collect();
        assert_eq!(after, vec![Seq(4), Seq(5)], "{what}");
        let raw = log.read_raw_after(Seq(2)).unwrap().next().unwrap().unwrap();
        assert_eq!(raw, (Seq(3), bytes.clone()), "{what}");
    }
}

#[test]
fn a_log_of_another_kind_is_foreign() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let log = open_counts(&path);
    log.append_blocking(vec![event(0), event(1)]).unwrap();
    log.close();

    for result in [
        EventLog::<OrderEvent>::open(&path, NoProjection).map(|_| ()),
        EventLog::<OrderEvent>::open_existing(&path, NoProjection).map(|_| ()),
    ] {
        match result {
            Err(StoreError::Foreign {
                expected, found, ..
            }) => {
                assert_eq!(expected, "toystore.order");
                assert_eq!(found, "toystore.catalog");
            }
            Err(other) => panic!("expected Foreign, got {other:?}"),
            Ok(()) => panic!("a catalog log opened as an order log"),
        }
    }
    // The refusal released the file and changed nothing in it.
    let log = open_counts(&path);
    assert_eq!(read_all(&log), vec![(Seq(1), event(0)), (Seq(2), event(1))]);
}

#[test]
fn files_that_are_not_toystore_logs_are_foreign() {
    let dir = tempfile::tempdir().unwrap();

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a database\n".repeat(200)).unwrap();
    let err = EventLog::<CatalogEvent>::open_existing(&text, Counts).err();
    assert!(matches!(err, Some(StoreError::Foreign { .. })), "{err:?}");
    let err = EventLog::<CatalogEvent>::open(&text, Counts).err();
    assert!(matches!(err, Some(StoreError::Foreign { .. })), "{err:?}");

    // A redb file with an events table but no kind.
    let bare = dir.path().join("bare.redb");
    {
        let db = Database::create(&bare).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(EVENTS)
            .unwrap()
            .insert(1, codec::encode(&event(0)).as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    let err = EventLog::<CatalogEvent>::open(&bare, Counts).err();
    assert!(matches!(err, Some(StoreError::Foreign { .. })), "{err:?}");
}

#[test]
fn open_existing_on_a_missing_path_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.redb");
    let err = EventLog::<CatalogEvent>::open_existing(&path, Counts).err();
    assert!(
        matches!(&err, Some(StoreError::Missing(p)) if p == &path),
        "{err:?}"
    );
    assert!(!path.exists(), "open_existing must not create the file");
}

#[test]
fn opening_an_open_file_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    let log = open_counts(&path);
    log.append_blocking(vec![event(0)]).unwrap();

    let err = EventLog::<CatalogEvent>::open(&path, Counts).err();
    assert!(
        matches!(&err, Some(StoreError::Locked(p)) if p == &path),
        "{err:?}"
    );
    let err = EventLog::<CatalogEvent>::open_existing(&path, Counts).err();
    assert!(matches!(&err, Some(StoreError::Locked(_))), "{err:?}");
    // The failed opens did not disturb the open log.
    assert_eq!(log.append_blocking(vec![event(1)]).unwrap(), vec![Seq(2)]);

    drop(log);
    let log = open_counts(&path);
    assert_eq!(log.last_seq(), Seq(2));
}

#[test]
fn append_at_refuses_wrong_seqs_and_bad_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_counts(&dir.path().join("catalog.redb"));
    log.append_blocking(vec![event(0)]).unwrap();

    let payload = codec::encode(&event(1));
    for got in [0, 1, 3, 100] {
        let p = payload.clone();
        let err = log
            .execute_blocking(move |b| b.append_at(Seq(got), &p))
            .unwrap_err();
        match err {
            StoreError::OutOfOrder { expected, got: g } => {
                assert_eq!((expected, g), (Seq(2), Seq(got)));
            }
            other => panic!("expected OutOfOrder, got {other:?}"),
        }
    }
    let bad = codec::encode(&order());
    let err = log
        .execute_blocking(move |b| b.append_at(Seq(2), &bad))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Decode { seq: Seq(2), .. }),
        "{err:?}"
    );
    assert_eq!(log.last_seq(), Seq(1));

    // Refusals that wrote nothing may be handled by the request, which then commits.
    let p = payload.clone();
    let seq = log
        .execute_blocking(move |b| {
            assert!(b.append_at(Seq(5), &p).is_err());
            assert!(b.append_at(b.last_seq().next(), &[0xff]).is_err());
            Ok(b.last_seq())
        })
        .unwrap();
    assert_eq!(seq, Seq(1));
    assert_eq!(log.last_seq(), Seq(1));

    // The right seq with a good payload is stored byte for byte.
    let p = payload.clone();
    let stored = log
        .execute_blocking(move |b| b.append_at(Seq(2), &p))
        .unwrap();
    assert_eq!(stored, event(1));
    let raw: Vec<_> = log
        .read_raw_after(Seq(1))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(raw, vec![(Seq(2), payload)]);
}
