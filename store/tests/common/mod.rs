//! Helpers shared by the store's integration tests: a small counting projection and event
//! constructors.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;
use toystore_events::CatalogEvent;
use toystore_store::{
    Check, EventLog, Projection, ReadTables, Seq, StoreError, Table, WriteTables,
};

/// The counting projection's table: product name → number of events about it.
pub const COUNTS: Table<&'static str, u64> = Table::new("counts");

/// The product name whose events [`Counts`] refuses, after having written its row (so a test
/// can see that a failing `apply` leaves none of its own writes behind either).
pub const POISON: &str = "poison";

/// A projection counting events per product in its own table of the log's file.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts;

impl Projection<CatalogEvent> for Counts {
    fn init(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.open(COUNTS)?;
        Ok(())
    }

    fn apply(
        &self,
        tables: &WriteTables<'_>,
        seq: Seq,
        event: &CatalogEvent,
    ) -> Result<(), StoreError> {
        let name = event.product();
        let mut table = tables.open(COUNTS)?;
        let n = table.get(name.as_str())?.unwrap_or(0);
        table.insert(name.as_str(), n + 1)?;
        if name == POISON {
            return Err(StoreError::Projection {
                table: "counts",
                message: format!("refusing event {seq} about {name}"),
            });
        }
        Ok(())
    }

    fn clear(&self, tables: &WriteTables<'_>) -> Result<(), StoreError> {
        tables.reset(COUNTS)
    }

    fn dump(&self, tables: &ReadTables) -> Result<Vec<String>, StoreError> {
        Ok(read_counts(tables)?
            .into_iter()
            .map(|(name, n)| format!("counts\t{name}\t{n}"))
            .collect())
    }

    /// Rebuilds the counts in memory (tests' logs are small) and compares them row by row.
    fn check(
        &self,
        tables: &ReadTables,
        events: &mut dyn Iterator<Item = Result<(Seq, CatalogEvent), StoreError>>,
    ) -> Result<Check, StoreError> {
        let mut check = Check::default();
        let mut counts = BTreeMap::new();
        check.replay(events, |seq, event| {
            let name = event.product();
            if name == POISON {
                return Err(format!("refusing event {seq} about {name}"));
            }
            *counts.entry(name.to_string()).or_insert(0u64) += 1;
            Ok(())
        })?;
        let stored = tables.open(COUNTS)?;
        check.compare_sorted("counts", stored.rows()?, counts, |name, n| {
            format!("counts\t{name}\t{n}")
        })?;
        Ok(check)
    }
}

/// Every row of the counts table.
pub fn read_counts(tables: &ReadTables) -> Result<BTreeMap<String, u64>, StoreError> {
    tables.open(COUNTS)?.rows()?.collect()
}

/// The counts table of an open log.
pub fn counts_of(log: &EventLog<CatalogEvent>) -> BTreeMap<String, u64> {
    read_counts(&log.read().expect("read")).expect("read counts")
}

/// What the counts table must hold for these events.
pub fn expected_counts<'a>(
    events: impl IntoIterator<Item = &'a CatalogEvent>,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for e in events {
        *out.entry(e.product().to_string()).or_insert(0) += 1;
    }
    out
}

/// A purchase of `name` identified by `request_id`.
pub fn purchase(name: &str, request_id: impl Into<String>) -> CatalogEvent {
    CatalogEvent::Purchased {
        request_id: request_id.into().try_into().unwrap(),
        name: name.try_into().unwrap(),
        quantity: 1u32.try_into().unwrap(),
    }
}

/// The `i`-th of a family of distinct events.
pub fn event(i: u64) -> CatalogEvent {
    match i % 3 {
        0 => CatalogEvent::ProductAdded {
            name: format!("toy{}", i % 7).try_into().unwrap(),
            price: i as f64 + 0.5,
            quantity: (i % 100) as u32,
        },
        1 => purchase(&format!("toy{}", i % 7), format!("r{i}")),
        _ => CatalogEvent::Restocked {
            name: format!("toy{}", i % 7).try_into().unwrap(),
            added: (i % 50) as u32,
        },
    }
}

/// Every event of the log, decoded, failing the test on any error.
pub fn read_all(log: &EventLog<CatalogEvent>) -> Vec<(Seq, CatalogEvent)> {
    log.read_after(Seq::ZERO)
        .expect("read_after")
        .collect::<Result<Vec<_>, _>>()
        .expect("every stored event decodes")
}

/// Opens (creating) a catalog log with the counting projection.
pub fn open_counts(path: &Path) -> EventLog<CatalogEvent> {
    EventLog::open(path, Counts).expect("open log")
}
