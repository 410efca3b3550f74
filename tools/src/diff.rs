//! `tools diff FILE FILE [FILE...]`: compare replicas' logs event by event.
//!
//! Replicas of one log must hold byte-identical events at every sequence number (DESIGN.md,
//! invariant 2). [`diff_files`] opens every file read-only ([`crate::logfile`]; nothing is
//! changed), checks that they are logs of the same kind, and walks their events in lockstep,
//! comparing sequence numbers and stored bytes. It stops at the first sequence number where
//! they disagree: a different event, or an event some files have and others lack (a replica
//! that is behind, or one with an extra event). Projections are not compared (`tools replay`
//! checks those against the events).
//!
//! Exit status: 0 when the logs are identical, 1 when they differ (the report names the first
//! divergent sequence number, each file's last one and each file's event there), 2 when a
//! file cannot be inspected (missing, not a toystore log, a log of another kind than the
//! first file, locked by its running service).

use crate::logfile::{Kind, LogFile};
use serde::Serialize;
use std::path::PathBuf;
use toystore_events::Seq;

/// Arguments of `tools diff`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Example:\n  tools diff data/order-1.redb data/order-2.redb data/order-3.redb\n\nThe files are opened read-only; stop their services first (a running service locks its file).\nExit status: 0 identical, 1 different, 2 a file cannot be inspected."
)]
pub struct DiffArgs {
    /// Two or more redb files of the same log (e.g. the order replicas' files).
    #[arg(value_name = "FILE", required = true, num_args = 2..)]
    pub files: Vec<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One file of a diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSummary {
    /// The file.
    pub path: PathBuf,
    /// Its last sequence number.
    pub last_seq: u64,
    /// Its number of events.
    pub events: u64,
    /// It had not been closed cleanly and a repaired copy was read.
    pub repaired: bool,
    /// Its event at the first divergent sequence number (`None`: it has none there).
    pub at_divergence: Option<String>,
}

/// What `tools diff` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffReport {
    /// The logs' kind.
    pub kind: Kind,
    /// Each file, in the order given.
    pub files: Vec<FileSummary>,
    /// The first sequence number at which the files disagree (`None`: identical).
    pub first_divergent_seq: Option<u64>,
}

impl DiffReport {
    /// Every file holds the same events.
    pub fn identical(&self) -> bool {
        self.first_divergent_seq.is_none()
    }

    /// The report as `tools diff` prints it.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let width = self
            .files
            .iter()
            .map(|f| f.path.display().to_string().len())
            .max()
            .unwrap_or(0);
        match self.first_divergent_seq {
            None => {
                let last = self.files.first().map_or(0, |f| f.last_seq);
                let events = self.files.first().map_or(0, |f| f.events);
                let _ = writeln!(
                    s,
                    "identical: {} {} logs, {events} events each, last seq {last}",
                    self.files.len(),
                    self.kind
                );
            }
            Some(seq) => {
                let _ = writeln!(s, "logs differ: first divergent seq {seq}");
            }
        }
        for f in &self.files {
            let path = f.path.display().to_string();
            let _ = write!(s, "  {path:<width$}  last seq {}", f.last_seq);
            if let Some(seq) = self.first_divergent_seq {
                let event = f.at_divergence.as_deref().unwrap_or("(no event)");
                let _ = write!(s, "  at seq {seq}: {event}");
            }
            if f.repaired {
                let _ = write!(s, "  (not closed cleanly; a repaired copy was read)");
            }
            let _ = writeln!(s);
        }
        s
    }
}

/// Compares the logs in `paths` (at least one; see the module doc). An `Err` means a file
/// could not be inspected.
pub fn diff_files(paths: &[PathBuf]) -> anyhow::Result<DiffReport> {
    let Some(first) = paths.first() else {
        anyhow::bail!("no files to compare");
    };
    let first = LogFile::open(first)?;
    let kind = first.kind();
    let mut files = vec![first];
    for path in &paths[1..] {
        files.push(LogFile::open_kind(path, kind)?);
    }
    let txs = files
        .iter()
        .map(LogFile::read)
        .collect::<Result<Vec<_>, _>>()?;
    let mut iters = txs
        .iter()
        .map(|tables| tables.raw_events_after(Seq::ZERO))
        .collect::<Result<Vec<_>, _>>()?;

    let mut divergent: Option<Seq> = None;
    loop {
        let heads = iters
            .iter_mut()
            .map(|it| it.next().transpose())
            .collect::<Result<Vec<Option<(Seq, Vec<u8>)>>, _>>()?;
        if heads.iter().all(Option::is_none) {
            break;
        }
        if heads.iter().all(|h| h.is_some() && *h == heads[0]) {
            continue;
        }
        divergent = heads.iter().flatten().map(|(seq, _)| *seq).min();
        break;
    }

    let mut summaries = Vec::with_capacity(files.len());
    for (file, tx) in files.iter().zip(&txs) {
        let at_divergence = match divergent {
            Some(seq) => tx.raw_event(seq)?.map(|bytes| kind.describe(&bytes)),
            None => None,
        };
        summaries.push(FileSummary {
            path: file.path().to_path_buf(),
            last_seq: tx.last_seq()?.0,
            events: tx.event_count()?,
            repaired: file.repaired(),
            at_divergence,
        });
    }
    Ok(DiffReport {
        kind,
        files: summaries,
        first_divergent_seq: divergent.map(|s| s.0),
    })
}

/// Runs `tools diff`: 0 identical, 1 different (an `Err` is exit status 2).
pub fn run(args: &DiffArgs) -> anyhow::Result<u8> {
    let report = diff_files(&args.files)?;
    crate::print_report(&report, args.json, DiffReport::to_text)?;
    Ok(if report.identical() { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::path::Path;
    use toystore_events::OrderEvent;
    use toystore_order::projection::OrderProjection;
    use toystore_store::EventLog;

    fn log_with(dir: &Path, name: &str, names: &[&str]) -> PathBuf {
        let path = dir.join(name);
        let log = EventLog::open(&path, OrderProjection).unwrap();
        let events = names
            .iter()
            .enumerate()
            .map(|(n, toy)| OrderEvent::OrderPlaced {
                number: (n as u64).into(),
                request_id: format!("r{n}").try_into().unwrap(),
                name: (*toy).try_into().unwrap(),
                quantity: 1u32.try_into().unwrap(),
            })
            .collect();
        log.append_blocking(events).unwrap();
        path
    }

    #[test]
    fn identical_behind_and_different_logs() {
        let dir = tempfile::tempdir().unwrap();
        let a = log_with(dir.path(), "a.redb", &["Tux", "Uno", "Lego"]);
        let b = log_with(dir.path(), "b.redb", &["Tux", "Uno", "Lego"]);
        let behind = log_with(dir.path(), "c.redb", &["Tux"]);
        let other = log_with(dir.path(), "d.redb", &["Tux", "Yo-yo", "Lego"]);

        let same = diff_files(&[a.clone(), b.clone()]).unwrap();
        assert!(same.identical(), "{}", same.to_text());
        assert!(same
            .to_text()
            .contains("identical: 2 toystore.order logs, 3 events each"));

        let lag = diff_files(&[a.clone(), b.clone(), behind]).unwrap();
        assert_eq!(lag.first_divergent_seq, Some(2));
        assert_eq!(lag.files[2].last_seq, 1);
        assert_eq!(lag.files[2].at_divergence, None);
        assert!(lag.files[0]
            .at_divergence
            .as_deref()
            .unwrap()
            .contains("Uno"));

        let fork = diff_files(&[other, a]).unwrap();
        assert_eq!(fork.first_divergent_seq, Some(2));
        let text = fork.to_text();
        assert!(
            text.contains("first divergent seq 2") && text.contains("Yo-yo"),
            "{text}"
        );
    }
}
