//! `tools replay FILE`: rebuild a log's projections from its events alone and compare.
//!
//! Every view a service keeps (the catalog's stock and purchases, a replica's orders and
//! request ids) must be a pure function of its events. [`replay_file`] checks that claim on
//! a real file: it opens the file read-only ([`crate::logfile`]; the file is never changed),
//! detects whether it is a catalog or an order log, appends every stored event with its exact
//! bytes (`Batch::append_at`) to a fresh log with the same projection, and compares the
//! canonical dump of the stored projection tables with that of the rebuilt ones. Events that
//! do not decode, a gap in the sequence numbers or an event the projection refuses make the
//! rebuild fail, which is reported like a mismatch.
//!
//! The fresh log lives in a temporary directory, or at `--write OUT` (a new file; the
//! rebuilt database holds the events and projections, not a replica's `fence` table).
//!
//! Exit status: 0 when the stored projections equal the rebuilt ones, 1 when they differ or
//! the events cannot be replayed, 2 when the file cannot be inspected (missing, not a
//! toystore log, locked by its running service).
//!
//! The rebuild writes through `EventLog::execute_blocking`, so [`replay_file`] must not be
//! called on an async runtime's thread (use `tokio::task::spawn_blocking`).

use crate::logfile::{Kind, LogFile};
use anyhow::Context;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use toystore_catalog::projection::CatalogProjection;
use toystore_events::{CatalogEvent, LogEvent, OrderEvent, Seq};
use toystore_order::projection::OrderProjection;
use toystore_store::{EventLog, Projection, ReadTables, StoreError};

/// Arguments of `tools replay`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  tools replay data/order-3.redb\n  tools replay data/catalog.redb --write /tmp/catalog-rebuilt.redb\n\nThe file is opened read-only; stop its service first (a running service locks it).\nExit status: 0 projections match, 1 they differ or the events cannot be replayed, 2 the\nfile cannot be inspected."
)]
pub struct ReplayArgs {
    /// A service's redb file (catalog.redb or order-<id>.redb in the data directory).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Also write the rebuilt database to OUT, which must not exist yet.
    #[arg(long, value_name = "OUT")]
    pub write: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Events in one write transaction of the rebuild.
const BATCH: usize = 1024;
/// Differing rows listed in a report.
const ROWS_SHOWN: usize = 10;

/// The first row at which the stored and rebuilt dumps differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowDifference {
    /// Position in the canonical dump (0-based).
    pub row: usize,
    /// The stored row there (`None`: the stored dump is shorter).
    pub stored: Option<String>,
    /// The rebuilt row there (`None`: the rebuilt dump is shorter).
    pub rebuilt: Option<String>,
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
    /// Why the events could not be replayed, if they could not.
    pub rebuild_error: Option<String>,
    /// Rows of the stored projection.
    pub stored_rows: usize,
    /// Rows of the rebuilt projection.
    pub rebuilt_rows: usize,
    /// The first difference, if any.
    pub first_difference: Option<RowDifference>,
    /// Stored rows that the rebuild does not have (the first few).
    pub only_stored: Vec<String>,
    /// Rebuilt rows that the file does not have (the first few).
    pub only_rebuilt: Vec<String>,
    /// Where the rebuilt database was written, if asked.
    pub written: Option<PathBuf>,
}

impl ReplayReport {
    /// The events replay and the stored projections equal the rebuilt ones.
    pub fn consistent(&self) -> bool {
        self.rebuild_error.is_none() && self.first_difference.is_none()
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
        } else if self.first_difference.is_none() {
            let _ = writeln!(
                s,
                "projections match: {} stored rows equal the {} rows rebuilt from the events",
                self.stored_rows, self.rebuilt_rows
            );
        } else {
            let _ = writeln!(
                s,
                "projections DIFFER: {} stored rows, {} rebuilt from the events",
                self.stored_rows, self.rebuilt_rows
            );
        }
        if let Some(d) = &self.first_difference {
            let row = |r: &Option<String>| r.clone().unwrap_or_else(|| "(none)".into());
            let _ = writeln!(s, "  first difference at row {}:", d.row);
            let _ = writeln!(s, "    stored:  {}", row(&d.stored));
            let _ = writeln!(s, "    rebuilt: {}", row(&d.rebuilt));
            for (title, rows) in [
                ("only in stored", &self.only_stored),
                ("only in rebuilt", &self.only_rebuilt),
            ] {
                for r in rows {
                    let _ = writeln!(s, "  {title}: {r}");
                }
            }
        }
        if let Some(out) = &self.written {
            let _ = writeln!(s, "written     {}", out.display());
        }
        let _ = writeln!(
            s,
            "result      {}",
            if self.consistent() {
                "consistent"
            } else {
                "INCONSISTENT"
            }
        );
        s
    }
}

/// Replays `path` (see the module doc). `write`: a new file to keep the rebuilt database in.
/// An `Err` means the file could not be inspected; an inconsistency is in the report.
pub fn replay_file(path: &Path, write: Option<&Path>) -> anyhow::Result<ReplayReport> {
    let file = LogFile::open(path)?;
    let tx = file.read()?;
    let events = tx.event_count()?;
    let last_seq = tx.last_seq()?.0;
    let stored = file
        .kind()
        .dump(&tx)
        .with_context(|| format!("{}: reading the stored projection", path.display()))?;

    let temp;
    let out = match write {
        Some(out) => {
            // create_new: never overwrite, and a clear error for a missing directory.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(out)
                .with_context(|| {
                    format!("cannot create {} (it must be a new file)", out.display())
                })?;
            out.to_path_buf()
        }
        None => {
            temp = tempfile::tempdir().context("creating a temporary directory")?;
            temp.path().join("rebuilt.redb")
        }
    };
    let rebuilt = match file.kind() {
        Kind::Catalog => rebuild::<CatalogEvent, _>(CatalogProjection, &tx, &out),
        Kind::Order => rebuild::<OrderEvent, _>(OrderProjection, &tx, &out),
    };
    let rebuilt = match rebuilt {
        Ok(r) => r,
        Err(e) => {
            if write.is_some() {
                let _ = std::fs::remove_file(&out);
            }
            return Err(e);
        }
    };

    let mut report = ReplayReport {
        file: path.to_path_buf(),
        kind: file.kind(),
        repaired: file.repaired(),
        events,
        last_seq,
        rebuild_error: None,
        stored_rows: stored.len(),
        rebuilt_rows: 0,
        first_difference: None,
        only_stored: Vec::new(),
        only_rebuilt: Vec::new(),
        written: None,
    };
    match rebuilt {
        Err(why) => {
            report.rebuild_error = Some(why.to_string());
            if write.is_some() {
                // A partial rebuild must not be mistaken for a good one.
                let _ = std::fs::remove_file(&out);
            }
        }
        Ok(rebuilt) => {
            report.rebuilt_rows = rebuilt.len();
            compare(&stored, &rebuilt, &mut report);
            report.written = write.map(Path::to_path_buf);
        }
    }
    Ok(report)
}

fn compare(stored: &[String], rebuilt: &[String], report: &mut ReplayReport) {
    let rows = stored.len().max(rebuilt.len());
    report.first_difference = (0..rows)
        .find(|&i| stored.get(i) != rebuilt.get(i))
        .map(|row| RowDifference {
            row,
            stored: stored.get(row).cloned(),
            rebuilt: rebuilt.get(row).cloned(),
        });
    report.only_stored = first_missing(stored, rebuilt);
    report.only_rebuilt = first_missing(rebuilt, stored);
}

/// The first [`ROWS_SHOWN`] rows of `rows` that `other` lacks.
fn first_missing(rows: &[String], other: &[String]) -> Vec<String> {
    let other: HashSet<&String> = other.iter().collect();
    rows.iter()
        .filter(|r| !other.contains(r))
        .take(ROWS_SHOWN)
        .cloned()
        .collect()
}

/// Appends every event of `source` to a new log at `out` and dumps its projection.
/// `Ok(Err(why))`: the events could not be replayed; `Err`: the new log could not be made.
fn rebuild<E: LogEvent, P: Projection<E>>(
    projection: P,
    source: &ReadTables,
    out: &Path,
) -> anyhow::Result<Result<Vec<String>, StoreError>> {
    let log = EventLog::<E>::open(out, projection)
        .with_context(|| format!("creating {}", out.display()))?;
    let mut batch: Vec<(Seq, Vec<u8>)> = Vec::with_capacity(BATCH);
    for item in source.raw_events_after(Seq::ZERO)? {
        batch.push(item?);
        if batch.len() == BATCH {
            if let Err(why) = append(&log, std::mem::take(&mut batch)) {
                return Ok(Err(why));
            }
        }
    }
    if let Err(why) = append(&log, batch) {
        return Ok(Err(why));
    }
    let tx = log.read()?;
    let dump = log.projection().dump(&tx)?;
    drop(tx);
    log.close();
    Ok(Ok(dump))
}

fn append<E: LogEvent>(log: &EventLog<E>, events: Vec<(Seq, Vec<u8>)>) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    log.execute_blocking(move |b| {
        for (seq, bytes) in &events {
            b.append_at(*seq, bytes)?;
        }
        Ok(())
    })
}

/// Runs `tools replay`: 0 consistent, 1 inconsistent (an `Err` is exit status 2).
pub fn run(args: &ReplayArgs) -> anyhow::Result<u8> {
    let report = replay_file(&args.file, args.write.as_deref())?;
    crate::print_report(&report, args.json, ReplayReport::to_text)?;
    Ok(if report.consistent() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn order(number: u64, name: &str) -> OrderEvent {
        OrderEvent::OrderPlaced {
            number: number.into(),
            request_id: format!("r{number}").try_into().unwrap(),
            name: name.try_into().unwrap(),
            quantity: 1u32.try_into().unwrap(),
        }
    }

    #[test]
    fn a_healthy_log_replays_to_the_same_projection_and_can_be_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("order-1.redb");
        let log = EventLog::open(&path, OrderProjection).unwrap();
        log.append_blocking((0..2500).map(|n| order(n, "Tux")).collect())
            .unwrap();
        drop(log);
        let out = dir.path().join("rebuilt.redb");
        let report = replay_file(&path, Some(&out)).unwrap();
        assert!(report.consistent(), "{}", report.to_text());
        assert_eq!((report.events, report.last_seq), (2500, 2500));
        assert_eq!(report.stored_rows, 5000);
        assert_eq!(report.written.as_deref(), Some(out.as_path()));
        let again = replay_file(&out, None).unwrap();
        assert!(again.consistent());
        assert_eq!(again.events, 2500);
        // OUT must be new.
        let err = replay_file(&path, Some(&out)).unwrap_err();
        assert!(format!("{err:#}").contains("must be a new file"), "{err:#}");
    }

    #[test]
    fn an_empty_log_is_consistent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        drop(EventLog::<CatalogEvent>::open(&path, CatalogProjection).unwrap());
        let report = replay_file(&path, None).unwrap();
        assert!(report.consistent());
        assert_eq!(
            (report.kind, report.events, report.last_seq),
            (Kind::Catalog, 0, 0)
        );
    }

    #[test]
    fn compare_reports_first_and_extra_rows() {
        let stored = vec!["a".to_string(), "b".into(), "c".into()];
        let rebuilt = vec!["a".to_string(), "x".into(), "c".into(), "d".into()];
        let mut report = ReplayReport {
            file: PathBuf::new(),
            kind: Kind::Order,
            repaired: false,
            events: 0,
            last_seq: 0,
            rebuild_error: None,
            stored_rows: 3,
            rebuilt_rows: 4,
            first_difference: None,
            only_stored: vec![],
            only_rebuilt: vec![],
            written: None,
        };
        compare(&stored, &rebuilt, &mut report);
        let d = report.first_difference.clone().unwrap();
        assert_eq!(
            (d.row, d.stored.as_deref(), d.rebuilt.as_deref()),
            (1, Some("b"), Some("x"))
        );
        assert_eq!(report.only_stored, vec!["b".to_string()]);
        assert_eq!(report.only_rebuilt, vec!["x".to_string(), "d".into()]);
        assert!(!report.consistent());
    }
}
