//! Replicas' logs compared event by event ([`diff_files`]): what `tools diff`, `tools chaos`
//! and the tests use to say that replicas hold the same log.
//!
//! Replicas of one log must hold byte-identical events at every sequence number (DESIGN.md,
//! invariant 2). [`diff_files`] opens every file read-only ([`crate::logfile`]; nothing is
//! changed), checks that they are logs of the same kind, and walks their events in lockstep,
//! comparing sequence numbers and stored bytes. It stops at the first sequence number where
//! they disagree: a different event, or an event some files have and others lack (a replica
//! that is behind, or one with an extra event). Projections are not compared (`tools replay`
//! checks those against the events).
//!
//! The logs are streamed, never held whole: each file has a reader thread that copies its
//! events, in order, into chunks of a few thousand (one buffer of bytes per chunk, reused)
//! and hands them to the comparing thread over a channel that holds only a couple. The files'
//! `k`-th chunks hold the same event positions, so the comparer checks whole chunks at once
//! and walks event by event only through the chunk where the logs first disagree.

use crate::logfile::{Kind, LogFile};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use toystore_events::Seq;
use toystore_store::{RawIter, StoreError};

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
    diff_files_in_chunks(paths, CHUNK_EVENTS)
}

/// [`diff_files`], reading `chunk_events` events at a time from each file.
fn diff_files_in_chunks(paths: &[PathBuf], chunk_events: usize) -> anyhow::Result<DiffReport> {
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

    let divergent = std::thread::scope(|scope| -> anyhow::Result<Option<u64>> {
        let mut streams = Vec::with_capacity(txs.len());
        for (n, tables) in txs.iter().enumerate() {
            let events = tables.raw_events_after(Seq::ZERO)?;
            let (chunks, from_reader) = mpsc::sync_channel(AHEAD);
            let (spare, to_reader) = mpsc::channel();
            std::thread::Builder::new()
                .name(format!("diff-read-{n}"))
                .spawn_scoped(scope, move || {
                    read_chunks(events, chunk_events.max(1), &chunks, &to_reader)
                })?;
            streams.push(Stream {
                chunks: from_reader,
                spare,
            });
        }
        Ok(compare(streams)?)
    })?;

    let mut summaries = Vec::with_capacity(files.len());
    for (file, tx) in files.iter().zip(&txs) {
        let at_divergence = match divergent {
            Some(seq) => tx.raw_event(Seq(seq))?.map(|bytes| kind.describe(&bytes)),
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
        first_divergent_seq: divergent,
    })
}

/// Events a reader gathers into one [`Chunk`] before handing it over: enough that the costs
/// per chunk (a message, a comparison call) vanish next to the events', few enough that a
/// file's chunks in memory take a few megabytes at most.
const CHUNK_EVENTS: usize = 4096;

/// Chunks a file's reader may have ready before the comparer takes them. With the one the
/// comparer holds and the one being filled, a file has at most `AHEAD + 2` chunks in memory.
const AHEAD: usize = 2;

/// Consecutive events of one file, in order: their sequence numbers and stored bytes (one
/// buffer for all), and whether reading failed after them.
///
/// Every chunk of a file but its last holds exactly the reader's chunk size, so the files'
/// `k`-th chunks hold the same event positions (the `k`-th run of that many events of each
/// log), and identical logs have identical chunks.
#[derive(Debug, Default)]
struct Chunk {
    seqs: Vec<u64>,
    /// Where each event's bytes end in `bytes`.
    ends: Vec<usize>,
    bytes: Vec<u8>,
    /// Reading the file failed after these events (it is the file's last chunk).
    failed: Option<StoreError>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.seqs.len()
    }

    /// The `i`-th event: its sequence number and stored bytes.
    fn event(&self, i: usize) -> Option<(u64, &[u8])> {
        let seq = *self.seqs.get(i)?;
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(before) => *self.ends.get(before)?,
            None => 0,
        };
        Some((seq, self.bytes.get(start..end)?))
    }

    #[cfg(test)]
    fn push(&mut self, seq: u64, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
        self.seqs.push(seq);
        self.ends.push(self.bytes.len());
    }

    /// Both hold the same events and neither failed.
    fn same_as(&self, other: &Chunk) -> bool {
        self.failed.is_none()
            && other.failed.is_none()
            && self.seqs == other.seqs
            && self.ends == other.ends
            && self.bytes == other.bytes
    }

    /// Empties it for reuse, keeping its buffers.
    fn clear(&mut self) {
        self.seqs.clear();
        self.ends.clear();
        self.bytes.clear();
        self.failed = None;
    }
}

/// Fills `chunk` (emptied first) with the next `max` events of `events`; fewer at the end of
/// the log or when reading fails (then `chunk.failed` says why).
fn fill(events: &mut RawIter, chunk: &mut Chunk, max: usize) {
    chunk.clear();
    while chunk.len() < max {
        match events.next_into(&mut chunk.bytes) {
            None => return,
            Some(Ok(seq)) => {
                chunk.seqs.push(seq.0);
                chunk.ends.push(chunk.bytes.len());
            }
            Some(Err(e)) => {
                chunk.failed = Some(e);
                return;
            }
        }
    }
}

/// One file's reader thread: sends its events in chunks of `max` (reusing the chunks the
/// comparer gives back) until the log ends, reading fails, or the comparer stops listening.
/// Its end is the channel's closing.
fn read_chunks(
    mut events: RawIter,
    max: usize,
    chunks: &SyncSender<Chunk>,
    spare: &Receiver<Chunk>,
) {
    loop {
        let mut chunk = spare.try_recv().unwrap_or_default();
        fill(&mut events, &mut chunk, max);
        let last = chunk.failed.is_some() || chunk.len() < max;
        if chunk.len() == 0 && chunk.failed.is_none() {
            return;
        }
        if chunks.send(chunk).is_err() || last {
            return;
        }
    }
}

/// The comparer's end of one file's reader.
struct Stream {
    chunks: Receiver<Chunk>,
    /// Chunks given back for reuse.
    spare: Sender<Chunk>,
}

/// Walks the files' chunks in lockstep: the first divergent sequence number (`None`: the logs
/// are identical), or the first read error met before it. Dropping the streams on return
/// stops the readers.
fn compare(streams: Vec<Stream>) -> Result<Option<u64>, StoreError> {
    loop {
        let mut chunks: Vec<Option<Chunk>> = streams.iter().map(|s| s.chunks.recv().ok()).collect();
        if chunks.iter().all(Option::is_none) {
            return Ok(None);
        }
        if let Some(seq) = first_divergence(&mut chunks)? {
            return Ok(Some(seq));
        }
        for (stream, chunk) in streams.iter().zip(chunks) {
            if let Some(chunk) = chunk {
                // The reader may have finished; then the chunk is simply dropped.
                let _ = stream.spare.send(chunk);
            }
        }
    }
}

/// The first position in the files' chunks (the same event positions of each log; `None`:
/// that file has ended) where they disagree, as its smallest sequence number among the files
/// that have an event there, or the read error of a file that failed at or before it.
/// `Ok(None)`: every file holds the same events here.
fn first_divergence(chunks: &mut [Option<Chunk>]) -> Result<Option<u64>, StoreError> {
    let Some(Some(first)) = chunks.first() else {
        return walk(chunks);
    };
    if chunks
        .iter()
        .all(|c| c.as_ref().is_some_and(|c| c.same_as(first)))
    {
        return Ok(None);
    }
    walk(chunks)
}

/// [`first_divergence`] event by event.
fn walk(chunks: &mut [Option<Chunk>]) -> Result<Option<u64>, StoreError> {
    let positions = chunks
        .iter()
        .flatten()
        .map(|c| c.len() + usize::from(c.failed.is_some()))
        .max()
        .unwrap_or(0);
    for i in 0..positions {
        for chunk in chunks.iter_mut().flatten() {
            if i >= chunk.len() {
                if let Some(e) = chunk.failed.take() {
                    return Err(e);
                }
            }
        }
        let heads: Vec<Option<(u64, &[u8])>> = chunks
            .iter()
            .map(|c| c.as_ref().and_then(|c| c.event(i)))
            .collect();
        if heads.iter().all(|h| h.is_some() && *h == heads[0]) {
            continue;
        }
        return Ok(heads.iter().flatten().map(|(seq, _)| *seq).min());
    }
    Ok(None)
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
        if names.is_empty() {
            return path;
        }
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

    /// The first divergent seq as the old lockstep walk over whole-event iterators found it.
    fn naive_first_divergence(paths: &[PathBuf]) -> Option<u64> {
        let files: Vec<_> = paths.iter().map(|p| LogFile::open(p).unwrap()).collect();
        let txs: Vec<_> = files.iter().map(|f| f.read().unwrap()).collect();
        let mut iters: Vec<_> = txs
            .iter()
            .map(|t| t.raw_events_after(Seq::ZERO).unwrap())
            .collect();
        loop {
            let heads: Vec<_> = iters
                .iter_mut()
                .map(|it| it.next().transpose().unwrap())
                .collect();
            if heads.iter().all(Option::is_none) {
                return None;
            }
            if heads.iter().all(|h| h.is_some() && *h == heads[0]) {
                continue;
            }
            return heads.iter().flatten().map(|(seq, _)| seq.0).min();
        }
    }

    fn chunk(events: &[(u64, &str)]) -> Chunk {
        let mut c = Chunk::default();
        for (seq, bytes) in events {
            c.push(*seq, bytes.as_bytes());
        }
        c
    }

    #[test]
    fn chunks_compare_by_events_and_boundaries() {
        let a = chunk(&[(1, "ab"), (2, "c")]);
        assert_eq!(a.event(0), Some((1, &b"ab"[..])));
        assert_eq!(a.event(1), Some((2, &b"c"[..])));
        assert_eq!(a.event(2), None);
        // The same bytes split differently are different events.
        let split = chunk(&[(1, "a"), (2, "bc")]);
        assert!(!a.same_as(&split));
        let mut chunks = [Some(a), Some(split)];
        assert_eq!(first_divergence(&mut chunks).unwrap(), Some(1));

        let mut same = [
            Some(chunk(&[(1, "x"), (2, "y")])),
            Some(chunk(&[(1, "x"), (2, "y")])),
        ];
        assert_eq!(first_divergence(&mut same).unwrap(), None);
        let mut ended: [Option<Chunk>; 2] = [None, None];
        assert_eq!(first_divergence(&mut ended).unwrap(), None);
    }

    #[test]
    fn divergence_at_either_end_of_a_chunk_in_memory() {
        let base = [(5, "a"), (6, "b"), (7, "c")];
        let first_differs = [(5, "A"), (6, "b"), (7, "c")];
        let last_differs = [(5, "a"), (6, "b"), (7, "C")];
        let other_seq = [(5, "a"), (6, "b"), (8, "c")];
        for (other, at) in [(&first_differs, 5), (&last_differs, 7), (&other_seq, 7)] {
            let mut chunks = [Some(chunk(&base)), Some(chunk(other)), Some(chunk(&base))];
            assert_eq!(first_divergence(&mut chunks).unwrap(), Some(at));
        }
        // One file ended inside the chunk, or before it.
        let mut short = [Some(chunk(&base)), Some(chunk(&base[..2]))];
        assert_eq!(first_divergence(&mut short).unwrap(), Some(7));
        let mut none = [None, Some(chunk(&base))];
        assert_eq!(first_divergence(&mut none).unwrap(), Some(5));
    }

    #[test]
    fn a_read_error_counts_only_where_it_happened() {
        let failed = |events: &[(u64, &str)]| {
            let mut c = chunk(events);
            c.failed = Some(StoreError::Closed);
            Some(c)
        };
        // The others differ before the failing file's error: that is the divergence.
        let mut chunks = [
            failed(&[(1, "a"), (2, "b")]),
            Some(chunk(&[(1, "a"), (2, "X"), (3, "c")])),
        ];
        assert_eq!(first_divergence(&mut chunks).unwrap(), Some(2));
        // The error comes first: it is the answer, even where another file has ended.
        let mut chunks = [
            failed(&[(1, "a")]),
            Some(chunk(&[(1, "a"), (2, "b"), (3, "c")])),
            Some(chunk(&[(1, "a"), (2, "b"), (3, "X")])),
        ];
        assert!(matches!(
            first_divergence(&mut chunks),
            Err(StoreError::Closed)
        ));
        let mut chunks = [failed(&[]), None];
        assert!(first_divergence(&mut chunks).is_err());
        // Identical events before the error never pass for identical chunks.
        let mut chunks = [failed(&[(1, "a")]), Some(chunk(&[(1, "a")]))];
        assert!(first_divergence(&mut chunks).is_err());
    }

    #[test]
    fn chunked_walk_finds_what_the_lockstep_walk_finds() {
        let dir = tempfile::tempdir().unwrap();
        let toys = ["Tux", "Uno", "Lego", "Yo-yo", "Kite", "Ball", "Top"];
        let mut logs = vec![];
        let mut add = |name: &str, names: Vec<&'static str>| {
            logs.push(log_with(dir.path(), name, &names));
            logs.len() - 1
        };
        let full = add("full.redb", toys.to_vec());
        let copy = add("copy.redb", toys.to_vec());
        let empty = add("empty.redb", vec![]);
        let mut prefixes = vec![];
        let mut changed = vec![];
        for n in 1..toys.len() {
            prefixes.push(add(&format!("prefix{n}.redb"), toys[..n].to_vec()));
        }
        for n in 0..toys.len() {
            let mut names = toys.to_vec();
            names[n] = "Changed";
            changed.push(add(&format!("changed{n}.redb"), names));
        }
        let mut cases: Vec<Vec<usize>> = vec![
            vec![full, copy],
            vec![full, empty],
            vec![empty, full],
            vec![empty, empty],
            vec![full, copy, empty],
        ];
        for &p in &prefixes {
            cases.push(vec![full, p]);
            cases.push(vec![p, copy, full]);
        }
        for &c in &changed {
            cases.push(vec![full, c]);
            cases.push(vec![c, full, copy]);
        }
        cases.push(vec![changed[3], prefixes[2], full]);
        cases.push(vec![prefixes[4], changed[4], empty]);

        for case in &cases {
            let paths: Vec<PathBuf> = case.iter().map(|&i| logs[i].clone()).collect();
            let expected = naive_first_divergence(&paths);
            let whole = diff_files(&paths).unwrap();
            assert_eq!(whole.first_divergent_seq, expected, "{paths:?}");
            // Chunks of 1 to 8 events put every divergence at a chunk's first event, its
            // last, and in between, and files end at and inside chunk boundaries.
            for chunk_events in 1..=8 {
                let report = diff_files_in_chunks(&paths, chunk_events).unwrap();
                assert_eq!(report, whole, "{paths:?} in chunks of {chunk_events}");
            }
        }

        let empty_vs_full = diff_files(&[logs[empty].clone(), logs[full].clone()]).unwrap();
        assert_eq!(empty_vs_full.first_divergent_seq, Some(1));
        assert_eq!(empty_vs_full.files[0].events, 0);
        assert_eq!(empty_vs_full.files[0].last_seq, 0);
        assert_eq!(empty_vs_full.files[0].at_divergence, None);
        assert_eq!(empty_vs_full.files[1].events, 7);
        assert!(empty_vs_full.files[1]
            .at_divergence
            .as_deref()
            .unwrap()
            .contains("Tux"));
        let prefix = diff_files(&[logs[full].clone(), logs[prefixes[2]].clone()]).unwrap();
        assert_eq!(prefix.first_divergent_seq, Some(4));
        assert_eq!((prefix.files[1].events, prefix.files[1].last_seq), (3, 3));
    }
}
