//! The writer thread: group commit.
//!
//! Requests arrive on a channel. The thread blocks for the first, drains every other request
//! already waiting (up to [`MAX_BATCH`]), runs them in order inside one write transaction,
//! commits once with `Durability::Immediate`, and only then answers each caller. If a
//! request fails or the commit fails, the whole transaction is aborted and every caller in
//! the batch gets an error: nothing of the batch is written.
//!
//! A request may say it needs no fsync of its own ([`Work::durable`] false: a Raft state
//! machine apply, whose entries are already durable in the Raft log, or the committed log
//! id). A batch made only of such requests commits with `Durability::None`: it is visible at
//! once and becomes durable with the next `Immediate` commit (redb persists every earlier
//! commit with it, and on a clean close). Under load that is the next Raft append; when no
//! durable request follows within [`SYNC_BEHIND`], the writer commits an empty durable
//! transaction itself, so the file on disk trails what readers see by at most that long
//! plus one fsync, and nobody waits for it. A crash in that window loses those writes,
//! which for such requests only means re-applying them from the Raft log on restart. A batch
//! with any other request is committed with `Immediate`, as before.
//!
//! A batch that changed nothing (every request only read: a refused buy, a replayed request
//! id) is not committed at all: its transaction is dropped, so it costs no fsync and wakes no
//! subscriber. Its callers still hear of it only after every earlier commit is durable (an
//! empty durable commit is made first if one was not), so what they read is never lost.
//!
//! Subscribers ([`crate::EventLog::subscribe`]) are woken only when the last sequence number
//! changes, never by a commit that appended nothing (a Raft vote, an apply without events).
//! [`CommitCounts`] says how many commits of each kind were made, for metrics.

use crate::schema::{EVENTS, META};
use crate::table::{decode_event, event_in, WriteTables};
use crate::{Projection, StoreError};
use redb::{Database, Durability, ReadableTable, WriteTransaction};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::{oneshot, watch};
use toystore_events::{codec, LogEvent, Seq};

/// Events appended at once from which the writer appends through a cursor rather than
/// one insert each (a snapshot's transfer, a rebuild; a batch of purchases stays below).
/// Below it the cursor costs more than it saves: a one-event durable transaction took
/// 351–359 µs through the cursor against 271–277 µs with an insert (`cargo bench -p
/// toystore-store --bench group_commit -- 'one_transaction/(1|4|16|64)$'`, two
/// interleaved runs each).
const APPEND_RUN: usize = 256;

/// The most requests one transaction takes; more wait for the next one.
pub const MAX_BATCH: usize = 4096;

/// How long a non-durable commit may wait for a durable one before the writer makes it
/// durable with an empty `Immediate` commit of its own.
pub const SYNC_BEHIND: std::time::Duration = std::time::Duration::from_millis(20);

/// How many commits a log's writer has made, by kind (counters since the log was opened).
#[derive(Debug, Default)]
pub struct CommitCounts {
    durable: AtomicU64,
    lazy: AtomicU64,
    skipped: AtomicU64,
}

/// A reading of [`CommitCounts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Commits {
    /// Commits with `Durability::Immediate`: one fsync each.
    pub durable: u64,
    /// Commits with `Durability::None` (made durable later by a durable one).
    pub lazy: u64,
    /// Batches that changed nothing and so were not committed.
    pub skipped: u64,
}

impl Commits {
    /// Each count with its kind's name (`durable`, `lazy`, `skipped`), for metrics.
    pub fn by_kind(&self) -> [(&'static str, u64); 3] {
        [
            ("durable", self.durable),
            ("lazy", self.lazy),
            ("skipped", self.skipped),
        ]
    }
}

impl CommitCounts {
    /// The counters now.
    pub fn read(&self) -> Commits {
        Commits {
            durable: self.durable.load(Ordering::Relaxed),
            lazy: self.lazy.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }

    fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Durable => &self.durable,
            Outcome::Lazy => &self.lazy,
            Outcome::Unchanged => &self.skipped,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// What became of a batch that succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Committed with an fsync.
    Durable,
    /// Committed without one.
    Lazy,
    /// Nothing changed: not committed.
    Unchanged,
}

/// The view of the open write transaction that a request gets.
pub struct Batch<'a, E> {
    tx: &'a WriteTransaction,
    projection: &'a dyn Projection<E>,
    last: Seq,
    /// Set when a write failed half-way (its event or projection rows may be in the
    /// transaction): the transaction must not commit even if the request carries on.
    failed: Option<String>,
    /// Set by anything that may have written (an append, a row, this crate's own tables):
    /// a batch that stays clean is not committed.
    touched: &'a Cell<bool>,
    /// How far the projection goes: `None` to the last event, `Some(seq)` up to `seq` only
    /// ([`Batch::append_all_at_unprojected`]). The writer keeps it between transactions;
    /// the `projected` row of `meta` keeps it across restarts.
    projected: Option<Seq>,
}

impl<E: LogEvent> Batch<'_, E> {
    /// The tables of the open transaction: a request reads the projection's rows here
    /// (seeing the effects of requests earlier in the batch) before deciding what to append.
    /// Writing a row marks the batch as changed.
    pub fn tables(&self) -> WriteTables<'_> {
        WriteTables::tracked(self.tx, self.touched)
    }

    /// The open transaction itself, for this crate's own tables (Raft's): taking it counts
    /// as a change, so the batch commits.
    pub(crate) fn tx(&self) -> &WriteTransaction {
        self.touched.set(true);
        self.tx
    }

    /// The last sequence number, including events appended earlier in this batch.
    pub fn last_seq(&self) -> Seq {
        self.last
    }

    /// The event at `seq`, including events appended earlier in this batch.
    pub fn event_at(&self, seq: Seq) -> Result<Option<E>, StoreError> {
        event_in(&self.tx.open_table(EVENTS)?, seq)
    }

    /// Appends an event at the next sequence number and applies it to the projection.
    ///
    /// If this fails, the request fails too (and with it the batch), even if the closure
    /// carries on: an event is never committed without its effect, or vice versa.
    pub fn append(&mut self, event: &E) -> Result<Seq, StoreError> {
        self.append_all(std::slice::from_ref(event))
    }

    /// Appends `events` at the next sequence numbers and applies them to the projection, as
    /// [`Batch::append`] of each does, with the events table and the projection's tables
    /// opened once for all of them ([`Projection::apply_all`]). Returns the last one's
    /// sequence number.
    pub fn append_all(&mut self, events: &[E]) -> Result<Seq, StoreError> {
        let encoded: Vec<Vec<u8>> = events.iter().map(codec::encode).collect();
        let raw: Vec<(Seq, &[u8])> = (self.last.0 + 1..)
            .map(Seq)
            .zip(encoded.iter().map(Vec::as_slice))
            .collect();
        self.write(&raw, events)?;
        Ok(self.last)
    }

    /// Appends an event that must land at exactly `seq` (a follower copying its leader's
    /// log). `payload` is stored as given, after checking that it decodes as an `E`, so
    /// replicas hold byte-identical logs. A wrong `seq` or a payload that does not decode
    /// writes nothing, so it does not fail the batch.
    pub fn append_at(&mut self, seq: Seq, payload: &[u8]) -> Result<E, StoreError> {
        let event = decode_at(self.last.next(), seq, payload)?;
        self.write(&[(seq, payload)], std::slice::from_ref(&event))?;
        Ok(event)
    }

    /// Appends events that must land at exactly the next sequence numbers, in order (a
    /// replica receiving a snapshot's events), each checked as [`Batch::append_at`] checks
    /// one, but leaves them out of the projection: it lags the
    /// events until [`Batch::project`] applies all it lacks at once
    /// ([`Projection::apply_from`], e.g. an index built in key order), which any
    /// projected append does first (also after a restart: the lag is recorded in `meta`). For a replica receiving a
    /// snapshot's events, many more than a transaction's worth; nobody may read the
    /// projection for them meanwhile. A wrong `seq` or a payload that does not decode
    /// writes nothing and does not fail the batch.
    pub fn append_all_at_unprojected(&mut self, events: &[(Seq, &[u8])]) -> Result<(), StoreError> {
        for (expected, (seq, payload)) in (self.last.0 + 1..).map(Seq).zip(events) {
            decode_at::<E>(expected, *seq, payload)?;
        }
        self.checked(|batch| batch.write_unprojected(events))
    }

    /// Applies every event the projection lacks ([`Batch::append_all_at_unprojected`]) to
    /// it, so it covers the log again; nothing to do if it does.
    pub fn project(&mut self) -> Result<(), StoreError> {
        self.checked(Self::project_unchecked)
    }

    /// Runs a write; its failure fails the batch (the transaction may hold part of it).
    fn checked<R>(
        &mut self,
        write: impl FnOnce(&mut Self) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let written = write(self);
        if let Err(e) = &written {
            self.failed = Some(e.to_string());
        }
        written
    }

    fn set_projected_to(&mut self, at: Option<Seq>) -> Result<(), StoreError> {
        crate::schema::set_projected_to(&mut self.tx.open_table(META)?, at)?;
        self.projected = at;
        Ok(())
    }

    fn project_unchecked(&mut self) -> Result<(), StoreError> {
        let Some(after) = self.projected else {
            return Ok(());
        };
        self.touched.set(true);
        project_from(self.tx, self.projection, after)?;
        self.projected = None;
        Ok(())
    }

    /// Writes `raw` events (consecutive, following the last) and applies `events`, their
    /// decoded forms, to the projection (after any events it lacks). A failure here fails
    /// the batch.
    fn write(&mut self, raw: &[(Seq, &[u8])], events: &[E]) -> Result<(), StoreError> {
        self.checked(|batch| {
            if raw.is_empty() {
                return Ok(());
            }
            batch.project_unchecked()?;
            batch.insert_events(raw)?;
            let applied: Vec<(Seq, &E)> = raw.iter().map(|(seq, _)| *seq).zip(events).collect();
            batch
                .projection
                .apply_all(&WriteTables::new(batch.tx), &applied)
        })
    }

    fn write_unprojected(&mut self, raw: &[(Seq, &[u8])]) -> Result<(), StoreError> {
        if raw.is_empty() {
            return Ok(());
        }
        if self.projected.is_none() {
            self.set_projected_to(Some(self.last))?;
        }
        self.insert_events(raw)
    }

    /// Inserts consecutive events following the last into the events table: a run of at
    /// least [`APPEND_RUN`] through one cursor at the table's end (packed into full leaves),
    /// fewer one by one.
    fn insert_events(&mut self, raw: &[(Seq, &[u8])]) -> Result<(), StoreError> {
        let Some((last, _)) = raw.last() else {
            return Ok(());
        };
        self.touched.set(true);
        let mut table = self.tx.open_table(EVENTS)?;
        if raw.len() >= APPEND_RUN {
            crate::table::append(
                &mut table,
                raw.iter().map(|(seq, payload)| Ok((seq.0, *payload))),
            )?;
        } else {
            for (seq, payload) in raw {
                table.insert(seq.0, *payload)?;
            }
        }
        self.last = *last;
        Ok(())
    }

    /// Removes every event after `seq` and takes their effects out of the projection,
    /// newest first ([`Projection::undo`]), or rebuilds it from the events that remain if it
    /// cannot. Only for a replica whose tail diverged from its leader's (events that were
    /// never acknowledged); returns how many events were removed.
    /// Events the projection lacks ([`Batch::append_all_at_unprojected`]) are removed
    /// without an undo.
    pub fn truncate_after(&mut self, seq: Seq) -> Result<u64, StoreError> {
        self.checked(|batch| batch.truncate_unchecked(seq))
    }

    fn truncate_unchecked(&mut self, seq: Seq) -> Result<u64, StoreError> {
        if self.last <= seq {
            return Ok(0);
        }
        self.touched.set(true);
        let removed = self.last.0 - seq.0;
        let projected = self.projected;
        // The events the projection never saw go without a word to it; it covers the rest.
        let undo_to = match projected {
            Some(at) => {
                let keep = at.max(seq);
                self.tx
                    .open_table(EVENTS)?
                    .retain_in(keep.0.saturating_add(1).., |_, _| false)?;
                if seq <= at {
                    self.set_projected_to(None)?;
                }
                keep
            }
            None => self.last,
        };
        let doomed: Vec<(u64, Vec<u8>)> = {
            let mut table = self.tx.open_table(EVENTS)?;
            let doomed: Vec<(u64, Vec<u8>)> = table
                .range(seq.0.saturating_add(1)..=undo_to.0)?
                .map(|r| r.map(|(k, v)| (k.value(), v.value().to_vec())))
                .collect::<Result<_, _>>()?;
            for (key, _) in &doomed {
                table.remove(key)?;
            }
            doomed
        };
        let mut undone = true;
        for (key, bytes) in doomed.iter().rev() {
            let at = Seq(*key);
            let event: E = decode_event(at, bytes)?;
            if !self
                .projection
                .undo(&WriteTables::new(self.tx), at, &event)?
            {
                undone = false;
                break;
            }
        }
        self.last = seq;
        if !undone {
            rebuild(self.tx, self.projection)?;
            self.projected = None;
        }
        Ok(removed)
    }
}

/// The event `payload` holds, if `seq` is the `expected` one and it decodes.
fn decode_at<E: LogEvent>(expected: Seq, seq: Seq, payload: &[u8]) -> Result<E, StoreError> {
    if seq != expected {
        return Err(StoreError::OutOfOrder { expected, got: seq });
    }
    decode_event(seq, payload)
}

/// Clears the projection and applies every event of the log to it again
/// ([`Projection::apply_from`]), and records that it covers every event.
pub(crate) fn rebuild<E: LogEvent>(
    tx: &WriteTransaction,
    projection: &dyn Projection<E>,
) -> Result<(), StoreError> {
    let tables = WriteTables::new(tx);
    projection.clear(&tables)?;
    projection.init(&tables)?;
    project_from(tx, projection, Seq::ZERO)
}

/// Applies the events after `after` to the projection ([`Projection::apply_from`]) and
/// records that it covers every event.
pub(crate) fn project_from<E: LogEvent>(
    tx: &WriteTransaction,
    projection: &dyn Projection<E>,
    after: Seq,
) -> Result<(), StoreError> {
    projection.apply_from(&WriteTables::new(tx), after)?;
    crate::schema::set_projected_to(&mut tx.open_table(META)?, None)
}

/// One request: runs inside the transaction, then learns whether the commit succeeded.
pub(crate) trait Work<E>: Send {
    fn run(&mut self, batch: &mut Batch<'_, E>) -> Result<(), StoreError>;
    fn finish(self: Box<Self>, outcome: Result<(), StoreError>);
    /// Whether the caller needs the write on disk before it hears of it (the default).
    fn durable(&self) -> bool {
        true
    }
}

/// A closure and the channel its caller waits on.
pub(crate) struct Request<F, R> {
    f: Option<F>,
    result: Option<R>,
    reply: oneshot::Sender<Result<R, StoreError>>,
    durable: bool,
}

impl<F, R> Request<F, R> {
    /// A request whose caller hears of it after the commit, durable if `durable`.
    pub(crate) fn new(f: F, durable: bool) -> (Self, oneshot::Receiver<Result<R, StoreError>>) {
        let (reply, rx) = oneshot::channel();
        let req = Request {
            f: Some(f),
            result: None,
            reply,
            durable,
        };
        (req, rx)
    }
}

impl<E, F, R> Work<E> for Request<F, R>
where
    E: LogEvent,
    F: FnOnce(&mut Batch<'_, E>) -> Result<R, StoreError> + Send,
    R: Send,
{
    fn run(&mut self, batch: &mut Batch<'_, E>) -> Result<(), StoreError> {
        let f = self.f.take().ok_or(StoreError::Closed)?;
        self.result = Some(f(batch)?);
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: Result<(), StoreError>) {
        let answer = match (outcome, self.result) {
            (Ok(()), Some(r)) => Ok(r),
            (Ok(()), None) => Err(StoreError::Aborted("request did not run".into())),
            (Err(e), _) => Err(e),
        };
        // The caller may have stopped waiting; its result is committed either way.
        let _ = self.reply.send(answer);
    }

    fn durable(&self) -> bool {
        self.durable
    }
}

pub(crate) type Job<E> = Box<dyn Work<E>>;

/// The writer thread's state.
pub(crate) struct Writer<E> {
    pub(crate) db: Arc<Database>,
    pub(crate) projection: Arc<dyn Projection<E>>,
    pub(crate) last: watch::Sender<Seq>,
    pub(crate) jobs: mpsc::Receiver<Job<E>>,
    pub(crate) counts: Arc<CommitCounts>,
    /// How far the projection goes after the last commit (`None`: to the last event).
    pub(crate) projected: Cell<Option<Seq>>,
}

impl<E: LogEvent> Writer<E> {
    /// Runs until every sender is gone.
    pub(crate) fn run(self) {
        // Whether the last commit was not durable (and nothing durable followed yet).
        let mut unsynced = false;
        loop {
            let first = if unsynced {
                match self.jobs.recv_timeout(SYNC_BEHIND) {
                    Ok(job) => Some(job),
                    // Nothing durable came: an empty durable commit persists what did.
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match self.jobs.recv() {
                    Ok(job) => Some(job),
                    Err(_) => return,
                }
            };
            let mut jobs: Vec<Job<E>> = first.into_iter().collect();
            while !jobs.is_empty() && jobs.len() < MAX_BATCH {
                match self.jobs.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let durable = jobs.is_empty() || jobs.iter().any(|j| j.durable());
            // A clean batch may skip its commit only if nothing before it awaits an fsync:
            // its callers read what earlier commits wrote.
            let may_skip = !jobs.is_empty() && !unsynced;
            match self.commit_batch(jobs, durable, may_skip) {
                Some(Outcome::Durable) => unsynced = false,
                Some(Outcome::Lazy) => unsynced = true,
                Some(Outcome::Unchanged) | None => {}
            }
        }
    }

    /// Runs and commits one batch (durably if `durable`; not at all if it changed nothing
    /// and `may_skip`); `None` if it failed.
    fn commit_batch(
        &self,
        mut jobs: Vec<Job<E>>,
        durable: bool,
        may_skip: bool,
    ) -> Option<Outcome> {
        let before = *self.last.borrow();
        match self.run_batch(&mut jobs, before, durable, may_skip) {
            Ok((last, outcome)) => {
                self.counts.count(outcome);
                // Subscribers wake only for new events, never for a commit without any.
                self.last.send_if_modified(|seen| {
                    let moved = *seen != last;
                    *seen = last;
                    moved
                });
                tracing::trace!(
                    requests = jobs.len(),
                    ?outcome,
                    last_seq = last.0,
                    "group commit"
                );
                for job in jobs {
                    job.finish(Ok(()));
                }
                Some(outcome)
            }
            Err((culprit, e)) => {
                tracing::warn!(requests = jobs.len(), error = %e, "batch aborted");
                let cause = e.to_string();
                let mut own = Some(e);
                for (i, job) in jobs.into_iter().enumerate() {
                    let err = match (Some(i) == culprit, own.take()) {
                        (true, Some(e)) => e,
                        (_, taken) => {
                            own = taken;
                            StoreError::Aborted(cause.clone())
                        }
                    };
                    job.finish(Err(err));
                }
                None
            }
        }
    }

    /// Runs every job in one transaction and commits it (or, if it changed nothing and
    /// `may_skip`, drops it). On failure, says which job failed (`None`: the transaction
    /// itself) and why.
    fn run_batch(
        &self,
        jobs: &mut [Job<E>],
        before: Seq,
        durable: bool,
        may_skip: bool,
    ) -> Result<(Seq, Outcome), (Option<usize>, StoreError)> {
        let whole = |e: StoreError| (None, e);
        let mut tx = self.db.begin_write().map_err(|e| whole(e.into()))?;
        let durability = if durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        tx.set_durability(durability).map_err(|e| whole(e.into()))?;
        let touched = Cell::new(false);
        let mut batch = Batch {
            tx: &tx,
            projection: self.projection.as_ref(),
            last: before,
            failed: None,
            touched: &touched,
            projected: self.projected.get(),
        };
        for (i, job) in jobs.iter_mut().enumerate() {
            // Returning drops the transaction, which aborts it. A panicking request fails
            // its batch like an error instead of killing the writer thread.
            let ran =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(&mut batch)))
                    .unwrap_or_else(|_| Err(StoreError::Aborted("the request panicked".into())));
            ran.map_err(|e| (Some(i), e))?;
            if let Some(cause) = batch.failed.take() {
                let e =
                    StoreError::Aborted(format!("the request ignored a failed append: {cause}"));
                return Err((Some(i), e));
            }
        }
        let (last, projected) = (batch.last, batch.projected);
        if may_skip && !touched.get() {
            tx.abort().map_err(|e| whole(e.into()))?;
            return Ok((last, Outcome::Unchanged));
        }
        tx.commit().map_err(|e| whole(e.into()))?;
        self.projected.set(projected);
        let outcome = if durable {
            Outcome::Durable
        } else {
            Outcome::Lazy
        };
        Ok((last, outcome))
    }
}
