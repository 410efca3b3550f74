//! [`EventLog`]: open a log file, append through the writer thread, read it back.

use crate::schema::{projected_to, projection_version, EVENTS, META, PROJECTION_VERSION};
use crate::table::{Events, RawIter, ReadTables, WriteTables};
use crate::writer::{CommitCounts, Commits, Job, Request, Writer};
use crate::{Batch, Projection, StoreError};
use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use tokio::sync::watch;
use toystore_events::{LogEvent, Seq};

/// redb's page cache per open log. redb's default (1 GiB) keeps every page a process has
/// read or written, so a replica's memory grew with its log (1.1 GB after catching up 1M
/// orders); with a bounded cache it stays flat. Hot pages (the tail of the log, the
/// projection's recent rows) fit many times over.
pub const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// An append-only event log in one redb file, with its projection.
///
/// Dropping it stops the writer thread (after the requests already queued) and closes the
/// file, so the same path can be reopened at once.
pub struct EventLog<E: LogEvent> {
    path: PathBuf,
    db: Arc<Database>,
    projection: Arc<dyn Projection<E>>,
    last: watch::Receiver<Seq>,
    jobs: Option<mpsc::Sender<Job<E>>>,
    writer: Option<JoinHandle<()>>,
    counts: Arc<CommitCounts>,
}

impl<E: LogEvent> EventLog<E> {
    /// Opens the log at `path`, creating the file if it does not exist.
    pub fn open(
        path: impl AsRef<Path>,
        projection: impl Projection<E>,
    ) -> Result<Self, StoreError> {
        Self::open_with_cache(path, projection, CACHE_BYTES)
    }

    /// [`EventLog::open`] with a page cache of `cache_bytes` instead of [`CACHE_BYTES`]: for
    /// a tool writing a whole file at once (the growth benchmark's generator), whose random
    /// index inserts the services' small cache would send to the disk.
    pub fn open_with_cache(
        path: impl AsRef<Path>,
        projection: impl Projection<E>,
        cache_bytes: usize,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let db = crate::integrity::open_verified(path, cache_bytes, true)?;
        Self::start(path, db, Arc::new(projection), true)
    }

    /// Opens an existing log; a missing file is [`StoreError::Missing`], and a file that is
    /// not already a log of this kind is [`StoreError::Foreign`] and left as it was.
    pub fn open_existing(
        path: impl AsRef<Path>,
        projection: impl Projection<E>,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let db = crate::integrity::open_verified(path, CACHE_BYTES, false)?;
        Self::start(path, db, Arc::new(projection), false)
    }

    fn start(
        path: &Path,
        db: Database,
        projection: Arc<dyn Projection<E>>,
        new: bool,
    ) -> Result<Self, StoreError> {
        let (last, projected) = init_tables(path, &db, projection.as_ref(), new)?;
        let db = Arc::new(db);
        let (last_tx, last_rx) = watch::channel(last);
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let counts = Arc::new(CommitCounts::default());
        let writer = Writer {
            db: db.clone(),
            projection: projection.clone(),
            last: last_tx,
            jobs: jobs_rx,
            counts: counts.clone(),
            projected: std::cell::Cell::new(projected),
        };
        let handle = std::thread::Builder::new()
            .name(format!("{}-writer", E::KIND))
            .spawn(move || writer.run())?;
        Ok(Self {
            path: path.to_path_buf(),
            db,
            projection,
            last: last_rx,
            jobs: Some(jobs_tx),
            writer: Some(handle),
            counts,
        })
    }

    /// The file this log lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` inside the next group-commit transaction and returns its result once the
    /// transaction has committed durably. If `f` (or any request in the same batch, or the
    /// commit) fails, nothing `f` wrote is kept and the error is returned.
    pub async fn execute<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Batch<'_, E>) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let rx = self.submit(f, true)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// [`EventLog::execute`] without an fsync of its own: the result is committed (visible to
    /// every reader) when it returns, and durable with the next durable commit or a clean
    /// close. Only for writes that can be redone after a crash (a Raft state machine's
    /// applies, whose entries are durable in the Raft log).
    pub(crate) async fn execute_unsynced<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Batch<'_, E>) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let rx = self.submit(f, false)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// [`EventLog::execute`] for callers outside an async runtime.
    pub fn execute_blocking<R, F>(&self, f: F) -> Result<R, StoreError>
    where
        F: FnOnce(&mut Batch<'_, E>) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let rx = self.submit(f, true)?;
        rx.blocking_recv().map_err(|_| StoreError::Closed)?
    }

    fn submit<R, F>(
        &self,
        f: F,
        durable: bool,
    ) -> Result<tokio::sync::oneshot::Receiver<Result<R, StoreError>>, StoreError>
    where
        F: FnOnce(&mut Batch<'_, E>) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (req, rx) = Request::new(f, durable);
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(Box::new(req)).map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// Queues a job of this crate's own (e.g. a Raft log append that answers through a
    /// callback) for the next group commit, without waiting for it.
    pub(crate) fn submit_job(&self, job: Job<E>) -> Result<(), StoreError> {
        let jobs = self.jobs.as_ref().ok_or(StoreError::Closed)?;
        jobs.send(job).map_err(|_| StoreError::Closed)
    }

    /// Queues `f` for the next group commit without waiting for it and without an fsync of
    /// its own (durable with the next durable commit): its result (and any error) is dropped,
    /// so `f` is for writes whose durability nobody waits on.
    pub(crate) fn execute_detached<F>(&self, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(&mut Batch<'_, E>) -> Result<(), StoreError> + Send + 'static,
    {
        self.submit(f, false).map(drop)
    }

    /// The database, for this crate's own tables.
    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    /// Appends events in order; returns their sequence numbers after the durable commit.
    pub async fn append(&self, events: Vec<E>) -> Result<Vec<Seq>, StoreError> {
        self.execute(move |b| append_all(b, &events)).await
    }

    /// [`EventLog::append`] for callers outside an async runtime.
    pub fn append_blocking(&self, events: Vec<E>) -> Result<Vec<Seq>, StoreError> {
        self.execute_blocking(move |b| append_all(b, &events))
    }

    /// The last committed sequence number (`Seq::ZERO` for an empty log).
    pub fn last_seq(&self) -> Seq {
        *self.last.borrow()
    }

    /// A receiver that changes when a commit moves the last sequence number (for pushing
    /// events to subscribers as they commit); a commit that appended nothing wakes nobody.
    pub fn subscribe(&self) -> watch::Receiver<Seq> {
        self.last.clone()
    }

    /// How many commits the writer has made since the log was opened, by kind (a durable
    /// one is one fsync).
    pub fn commits(&self) -> Commits {
        self.counts.read()
    }

    /// A consistent read snapshot: projection rows and events as of one commit.
    pub fn read(&self) -> Result<ReadTables, StoreError> {
        Ok(ReadTables::new(self.db.begin_read()?))
    }

    /// A raw read transaction, for this crate's own tables (Raft's).
    pub(crate) fn begin_read(&self) -> Result<ReadTransaction, StoreError> {
        Ok(self.db.begin_read()?)
    }

    /// The projection this log maintains.
    pub fn projection(&self) -> &dyn Projection<E> {
        self.projection.as_ref()
    }

    /// Every event after `after`, decoded, in order, from a snapshot taken now.
    pub fn read_after(&self, after: Seq) -> Result<Events<E>, StoreError> {
        self.read()?.events_after(after)
    }

    /// Every event after `after` as stored bytes, from a snapshot taken now.
    pub fn read_raw_after(&self, after: Seq) -> Result<RawIter, StoreError> {
        self.read()?.raw_events_after(after)
    }

    /// Stops the writer thread after the requests already queued, and closes the file.
    pub fn close(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.jobs = None;
        if let Some(handle) = self.writer.take() {
            if handle.join().is_err() {
                tracing::error!(path = %self.path.display(), "event log writer panicked");
            }
        }
    }
}

impl<E: LogEvent> Drop for EventLog<E> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Appends `events` together ([`Batch::append_all`]) and returns their sequence numbers.
fn append_all<E: LogEvent>(batch: &mut Batch<'_, E>, events: &[E]) -> Result<Vec<Seq>, StoreError> {
    let first = batch.last_seq().0 + 1;
    batch.append_all(events)?;
    Ok((first..=batch.last_seq().0).map(Seq).collect())
}

/// Creates the tables if needed, checks the kind and returns the last sequence number and
/// how far the projection goes (`None`: to the last event). A projection left lagging (a
/// snapshot transfer cut by a crash) stays so: its events are not applied state until the
/// transfer is installed, which applies them in bulk, and any projected write applies them
/// first.
/// Only a `new` log (opened with [`EventLog::open`]) may be stamped with its kind: an
/// existing file without one is foreign, never adopted.
fn init_tables<E: LogEvent>(
    path: &Path,
    db: &Database,
    projection: &dyn Projection<E>,
    new: bool,
) -> Result<(Seq, Option<Seq>), StoreError> {
    let tx = db.begin_write()?;
    {
        let mut meta = tx.open_table(META)?;
        let found = meta.get("kind")?.map(|v| v.value().to_string());
        match found {
            Some(kind) if kind == E::KIND => {}
            Some(kind) => {
                return Err(StoreError::Foreign {
                    path: path.to_path_buf(),
                    expected: E::KIND,
                    found: kind,
                })
            }
            None => {
                let events = tx.open_table(EVENTS)?;
                if !new || !events.is_empty()? {
                    return Err(StoreError::Foreign {
                        path: path.to_path_buf(),
                        expected: E::KIND,
                        found: "a log with no kind".into(),
                    });
                }
                meta.insert("kind", E::KIND)?;
                // An empty log is built with this version: nothing to rebuild.
                meta.insert(
                    PROJECTION_VERSION,
                    projection.version().to_string().as_str(),
                )?;
            }
        }
    }
    projection.init(&WriteTables::new(&tx))?;
    upgrade_projection(path, &tx, projection)?;
    let projected = projected_to(&tx.open_table(META)?)?;
    let last = {
        let events = tx.open_table(EVENTS)?;
        let last = events.last()?.map(|(k, _)| k.value()).unwrap_or(0);
        Seq(last)
    };
    tx.commit()?;
    Ok((last, projected))
}

/// Rebuilds the projection from the events if the file's was built by another version of
/// it ([`Projection::version`]), and records the new version (a new log records its own
/// when it is created).
fn upgrade_projection<E: LogEvent>(
    path: &Path,
    tx: &redb::WriteTransaction,
    projection: &dyn Projection<E>,
) -> Result<(), StoreError> {
    let version = projection.version();
    let found = projection_version(&tx.open_table(META)?)?;
    if found != version {
        let started = std::time::Instant::now();
        crate::writer::rebuild(tx, projection)?;
        tracing::info!(
            path = %path.display(),
            from = found,
            to = version,
            secs = started.elapsed().as_secs_f64(),
            "projection rebuilt from the events for its new version"
        );
        tx.open_table(META)?
            .insert(PROJECTION_VERSION, version.to_string().as_str())?;
    }
    Ok(())
}

pub(crate) fn open_error(path: &Path, e: redb::DatabaseError) -> StoreError {
    if held_elsewhere(&e) {
        return StoreError::Locked(path.to_path_buf());
    }
    if let redb::DatabaseError::Storage(redb::StorageError::Corrupted(detail)) = &e {
        return StoreError::Damaged {
            path: path.to_path_buf(),
            detail: format!("redb: {detail}"),
        };
    }
    StoreError::Foreign {
        path: path.to_path_buf(),
        expected: "redb",
        found: e.to_string(),
    }
}

/// Whether opening a file failed because another handle (a running service) holds its lock.
pub(crate) fn held_elsewhere(e: &redb::DatabaseError) -> bool {
    match e {
        redb::DatabaseError::DatabaseAlreadyOpen => true,
        redb::DatabaseError::Storage(redb::StorageError::Io(io)) => {
            io.kind() == std::io::ErrorKind::WouldBlock
        }
        _ => false,
    }
}
