//! `tools replay FILE`: check a log's projections against what its events rebuild.
//!
//! Every view a service keeps (the catalog's stock and purchases, a replica's request-id
//! index) must be a pure function of its events. [`replay_file`] checks that claim on a real
//! file: it opens the file read-only ([`toystore_harness::logfile`]; the file is never changed), detects
//! whether it is a catalog or an order log, and streams its events, decoded straight from
//! one read snapshot, through the projection's [`Projection::check`]. Nothing is written:
//! small tables (the catalog's stock) are rebuilt in memory and compared row by row; big
//! ones (the order index, the catalog's purchases) are compared through a digest of their
//! rows, and searched for the rows that differ only when the digests differ
//! ([`toystore_store::check`]). Memory does not grow with the log. Events that do not
//! decode, a gap in the sequence numbers or an event the projection's `apply` refuses (an
//! order number that is not its seq - 1, a request id placed twice, stock going negative)
//! make the replay fail, which is reported like a mismatch.
//!
//! A file whose projection tables are of another version than this build's (written before
//! a layout change, not yet opened by a service of this build, which would rebuild them)
//! cannot be checked: that is an error, like a file that cannot be inspected.
//!
//! Exit status: 0 when the stored projections equal the rebuilt ones, 1 when they differ or
//! the events cannot be replayed, 2 when the file cannot be inspected (missing, not a
//! toystore log, locked by its running service, projection of another version).
//!
//! [`replay_file`] blocks on file reads: call it from a plain thread or
//! `tokio::task::spawn_blocking`.

use anyhow::Context;
use serde::Serialize;
use std::path::{Path, PathBuf};
use toystore_catalog::projection::CatalogProjection;
use toystore_events::{CatalogEvent, LogEvent, OrderEvent, Seq};
use toystore_harness::logfile::{Kind, LogFile};
use toystore_order::projection::OrderProjection;
use toystore_store::check::{Check, Contiguous, Difference, TableCheck};
use toystore_store::{Projection, ReadTables};

/// Arguments of `tools replay`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  tools replay data/order-3.redb\n  tools replay --json data/catalog-1.redb\n\nThe file is opened read-only; stop its service first (a running service locks it).\nNothing is written: the projections are rebuilt in memory or compared by digest.\nExit status: 0 projections match, 1 they differ or the events cannot be replayed, 2 the\nfile cannot be inspected."
)]
pub struct ReplayArgs {
    /// A service's redb file (catalog-<id>.redb or order-<id>.redb in the data directory).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// A row that differs between the stored and the rebuilt projection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowDifference {
    /// The table.
    pub table: String,
    /// The stored row (`None`: the file lacks the rebuilt one).
    pub stored: Option<String>,
    /// The rebuilt row (`None`: the rebuild lacks the stored one).
    pub rebuilt: Option<String>,
    /// What the events say about it, when the rows alone do not show it.
    pub note: Option<String>,
}

impl From<&Difference> for RowDifference {
    fn from(d: &Difference) -> Self {
        Self {
            table: d.table.to_string(),
            stored: d.stored.clone(),
            rebuilt: d.rebuilt.clone(),
            note: d.note.clone(),
        }
    }
}

/// One projection table, stored against rebuilt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableReport {
    /// The table.
    pub table: String,
    /// Rows stored.
    pub stored_rows: u64,
    /// Rows rebuilt from the events (as far as they replayed).
    pub rebuilt_rows: u64,
    /// Stored rows the rebuild lacks.
    pub only_stored: u64,
    /// Rebuilt rows the file lacks.
    pub only_rebuilt: u64,
    /// Whether they were compared and are equal.
    pub equal: bool,
}

impl From<&TableCheck> for TableReport {
    fn from(t: &TableCheck) -> Self {
        Self {
            table: t.table.to_string(),
            stored_rows: t.stored,
            rebuilt_rows: t.rebuilt,
            only_stored: t.only_stored,
            only_rebuilt: t.only_rebuilt,
            equal: t.equal,
        }
    }
}

/// What `tools replay` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The file.
    pub file: PathBuf,
    /// Its kind.
    pub kind: Kind,
    /// The file had not been closed cleanly and a repaired copy was read.
    pub repaired: bool,
    /// Stored events.
    pub events: u64,
    /// The last sequence number.
    pub last_seq: u64,
    /// Why the events could not be replayed, if they could not (the earliest event found
    /// that a rebuild would stop at).
    pub rebuild_error: Option<String>,
    /// Rows of the stored projection, over its tables.
    pub stored_rows: u64,
    /// Rows of the rebuilt projection, over its tables.
    pub rebuilt_rows: u64,
    /// Each table.
    pub tables: Vec<TableReport>,
    /// The first difference, if any.
    pub first_difference: Option<RowDifference>,
    /// The first few differences (the first one included).
    pub differences: Vec<RowDifference>,
    /// The stored rows of `differences`: rows the rebuild lacks (the first few).
    pub only_stored: Vec<String>,
    /// The rebuilt rows of `differences`: rows the file lacks (the first few).
    pub only_rebuilt: Vec<String>,
    /// The events replay and the stored projections equal the rebuilt ones.
    pub consistent: bool,
    /// Seconds the check took (opening the file aside).
    pub secs: f64,
}

impl ReplayReport {
    fn new(file: &LogFile, events: u64, last_seq: u64, check: &Check, secs: f64) -> Self {
        let differences: Vec<RowDifference> =
            check.differences.iter().map(RowDifference::from).collect();
        Self {
            file: file.path().to_path_buf(),
            kind: file.kind(),
            repaired: file.repaired(),
            events,
            last_seq,
            rebuild_error: check.refused.clone(),
            stored_rows: check.stored_rows(),
            rebuilt_rows: check.rebuilt_rows(),
            tables: check.tables.iter().map(TableReport::from).collect(),
            first_difference: differences.first().cloned(),
            only_stored: differences
                .iter()
                .filter_map(|d| d.stored.clone())
                .collect(),
            only_rebuilt: differences
                .iter()
                .filter_map(|d| d.rebuilt.clone())
                .collect(),
            differences,
            consistent: check.consistent(),
            secs,
        }
    }

    /// The events replay and the stored projections equal the rebuilt ones.
    pub fn consistent(&self) -> bool {
        self.consistent
    }

    /// The report as `tools replay` prints it.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "file        {}", self.file.display());
        let _ = writeln!(s, "kind        {}", self.kind);
        if self.repaired {
            let _ = writeln!(
                s,
                "note        not closed cleanly (was its service killed?); a repaired copy was read, the file is unchanged"
            );
        }
        let _ = writeln!(s, "events      {}", self.events);
        let _ = writeln!(s, "last seq    {}", self.last_seq);
        if let Some(e) = &self.rebuild_error {
            let _ = writeln!(s, "rebuild     FAILED: {e}");
        }
        if self.rebuild_error.is_none() && self.consistent {
            let _ = writeln!(
                s,
                "projections match: {} stored rows equal the {} rows rebuilt from the events",
                self.stored_rows, self.rebuilt_rows
            );
        } else if !self.differences.is_empty() || self.rebuild_error.is_none() {
            let _ = writeln!(
                s,
                "projections DIFFER: {} stored rows, {} rebuilt from the events",
                self.stored_rows, self.rebuilt_rows
            );
            let rows = |n: u64| if n == 1 { "row" } else { "rows" };
            for t in self.tables.iter().filter(|t| !t.equal) {
                let _ = writeln!(
                    s,
                    "  {}: {} {} stored, {} rebuilt; {} stored {} not rebuilt, {} rebuilt {} not stored",
                    t.table,
                    t.stored_rows,
                    rows(t.stored_rows),
                    t.rebuilt_rows,
                    t.only_stored,
                    rows(t.only_stored),
                    t.only_rebuilt,
                    rows(t.only_rebuilt)
                );
            }
        }
        let row = |r: &Option<String>| r.clone().unwrap_or_else(|| "(none)".into());
        for (i, d) in self.differences.iter().enumerate() {
            if i == 0 {
                let _ = writeln!(s, "  first difference, in {}:", d.table);
            } else {
                let _ = writeln!(s, "  in {}:", d.table);
            }
            let _ = writeln!(s, "    stored:  {}", row(&d.stored));
            let _ = writeln!(s, "    rebuilt: {}", row(&d.rebuilt));
            if let Some(note) = &d.note {
                let _ = writeln!(s, "    note:    {note}");
            }
        }
        let listed = self.differences.len() as u64;
        let total: u64 = self
            .tables
            .iter()
            .map(|t| t.only_stored.max(t.only_rebuilt))
            .sum();
        if total > listed {
            let _ = writeln!(s, "  (the first {listed} differences are listed)");
        }
        let took = if self.secs < 1.0 {
            format!("{:.1} ms", self.secs * 1e3)
        } else {
            format!("{:.2} s", self.secs)
        };
        if self.events == 0 {
            let _ = writeln!(s, "checked     in {took}");
        } else {
            let rate = self.events as f64 / self.secs.max(1e-9);
            let _ = writeln!(s, "checked     in {took}, {rate:.0} events/s");
        }
        let _ = writeln!(
            s,
            "result      {}",
            if self.consistent {
                "consistent"
            } else {
                "INCONSISTENT"
            }
        );
        s
    }
}

/// Replays `path` (see the module doc). An `Err` means the file could not be inspected; an
/// inconsistency is in the report.
pub fn replay_file(path: &Path) -> anyhow::Result<ReplayReport> {
    let file = LogFile::open(path)?;
    let tables = file.read()?;
    let events = tables.event_count()?;
    let last_seq = tables.last_seq()?.0;
    let started = std::time::Instant::now();
    let check = match file.kind() {
        Kind::Catalog => check::<CatalogEvent>(&CatalogProjection, &tables),
        Kind::Order => check::<OrderEvent>(&OrderProjection, &tables),
    }
    .with_context(|| format!("{}: checking the projection", path.display()))?;
    let secs = started.elapsed().as_secs_f64();
    Ok(ReplayReport::new(&file, events, last_seq, &check, secs))
}

/// Runs `projection`'s check over every event of `tables`.
fn check<E: LogEvent>(
    projection: &dyn Projection<E>,
    tables: &ReadTables,
) -> anyhow::Result<Check> {
    let (found, ours) = (tables.projection_version()?, projection.version());
    if found != ours {
        anyhow::bail!(
            "its projection tables are version {found}, this build's are version {ours}; \
             the file's service rebuilds them when it opens the file (start it once on the \
             file, or replay with the build that wrote it)"
        );
    }
    let mut events = Contiguous::new(tables.events_after::<E>(Seq::ZERO)?, Seq::ZERO);
    Ok(projection.check(tables, &mut events)?)
}

/// Runs `tools replay`: 0 consistent, 1 inconsistent (an `Err` is exit status 2).
pub fn run(args: &ReplayArgs) -> anyhow::Result<u8> {
    let report = replay_file(&args.file)?;
    crate::print_report(&report, args.json, ReplayReport::to_text)?;
    Ok(if report.consistent() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use toystore_store::{EventLog, NoProjection};

    fn order(number: u64, name: &str) -> OrderEvent {
        OrderEvent::OrderPlaced {
            number: number.into(),
            request_id: format!("r{number}").try_into().unwrap(),
            name: name.try_into().unwrap(),
            quantity: 1u32.try_into().unwrap(),
        }
    }

    #[test]
    fn a_healthy_log_is_consistent_and_counts_one_index_row_per_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order-1.redb");
        let log = EventLog::open(&path, OrderProjection).unwrap();
        log.append_blocking((0..2500).map(|n| order(n, "Tux")).collect())
            .unwrap();
        drop(log);
        let report = replay_file(&path).unwrap();
        assert!(report.consistent(), "{}", report.to_text());
        assert_eq!((report.events, report.last_seq), (2500, 2500));
        assert_eq!((report.stored_rows, report.rebuilt_rows), (2500, 2500));
        assert_eq!(report.tables.len(), 1);
        assert!(report.to_text().contains("projections match"));
        assert!(report.to_text().contains("result      consistent"));
    }

    #[test]
    fn an_empty_log_is_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        drop(EventLog::<CatalogEvent>::open(&path, CatalogProjection).unwrap());
        let report = replay_file(&path).unwrap();
        assert!(report.consistent(), "{}", report.to_text());
        assert_eq!(
            (report.kind, report.events, report.last_seq),
            (Kind::Catalog, 0, 0)
        );
    }

    #[test]
    fn a_projection_of_another_version_cannot_be_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order-1.redb");
        // Built without the order projection: its meta records version 1.
        let log = EventLog::open(&path, NoProjection).unwrap();
        log.append_blocking(vec![order(0, "Tux")]).unwrap();
        drop(log);
        let err = replay_file(&path).unwrap_err();
        let err = format!("{err:#}");
        assert!(
            err.contains("version 1, this build's are version 2"),
            "{err}"
        );
    }

    #[test]
    fn a_forged_index_row_is_shown_with_what_the_events_say() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order-1.redb");
        let log = EventLog::open(&path, OrderProjection).unwrap();
        log.append_blocking((0..20).map(|n| order(n, "Tux")).collect())
            .unwrap();
        // A request writing a row with no event: the forged key of order 3.
        let forged = toystore_order::projection::index_key("forged", 3.into()).unwrap();
        log.execute_blocking(move |b| {
            let mut index = b.tables().open(toystore_order::projection::REQUEST_INDEX)?;
            index.insert(forged, ())?;
            Ok(())
        })
        .unwrap();
        drop(log);
        let report = replay_file(&path).unwrap();
        assert!(!report.consistent());
        assert_eq!((report.stored_rows, report.rebuilt_rows), (21, 20));
        let first = report.first_difference.clone().unwrap();
        assert_eq!(first.table, "request_index");
        assert!(first.stored.unwrap().ends_with("order=3"));
        assert_eq!(first.rebuilt, None);
        assert_eq!(first.note.as_deref(), Some("order 3 has request id \"r3\""));
        let text = report.to_text();
        assert!(text.contains("projections DIFFER"), "{text}");
        assert!(
            text.contains(
                "request_index: 21 rows stored, 20 rebuilt; \
                 1 stored row not rebuilt, 0 rebuilt rows not stored"
            ),
            "{text}"
        );
        assert!(text.contains("INCONSISTENT"), "{text}");
    }
}
