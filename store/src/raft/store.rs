//! [`RaftStore`]: opens one replica's redb file for Raft and hands out the two halves openraft
//! takes ([`LogStore`], [`StateMachine`]) plus read access to the event log.
//!
//! Opening creates the Raft tables next to the event log's and stamps the Raft storage format.
//! A file that already holds events but no Raft state (an order log from before Raft) is
//! refused as [`StoreError::Foreign`], never adopted: its events were not applied from any
//! Raft log. Opening drops what earlier builds kept for snapshots (the whole-log snapshot
//! blob, the staging table; openraft builds a new snapshot when it needs one), and refuses a
//! file on which such a build was moving staged events into the log when it stopped.
//!
//! Receiving a snapshot ([`RaftStore::receive_snapshot`]) is the application's transfer
//! (openraft's `generic-snapshot-data`): [`RaftStore::snapshot_position`] tells the sender
//! how far this log goes (and its last event, to check that it is a prefix of the
//! sender's), the sender streams only the events after that, and they are written into the
//! event log in large transactions with bounded memory ([`snapshot::receive_chunk`]). The
//! [`Received`] data is then handed to `Raft::install_full_snapshot`, which installs it, and
//! [`RaftStore::discard_received`] takes the events back out if it did not. One transfer at
//! a time.

use super::snapshot;
use super::snapshot_data::{SnapshotData, Source};
use super::tables::{
    self, FORMAT, FORMAT_VERSION, INSTALLING, LOG, MACHINE, SNAPSHOT, SNAPSHOT_DATA, SNAPSHOT_META,
    STAGED, STATE,
};
use super::{Apply, LogStore, Pending, RaftTypes, StateMachine};
use crate::schema::EVENTS;
use crate::{EventLog, Projection, StoreError};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use openraft::LogId;
use redb::{Database, Durability, ReadableTable, ReadableTableMetadata};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use toystore_events::{LogEvent, Seq};

/// Received events written per transaction (and the most held in memory at once).
pub const RECEIVE_CHUNK: usize = 16_384;

/// A snapshot whose events were received into this file's log, ready for
/// `Raft::install_full_snapshot`. Holds the file's transfer lock: keep it until the install
/// has returned (and [`RaftStore::discard_received`] after it), so no other transfer touches
/// the received events meanwhile.
pub struct Received {
    /// The snapshot's data, to install.
    pub data: SnapshotData,
    _lock: tokio::sync::OwnedMutexGuard<()>,
}

/// One replica's Raft storage: the event log (state machine events and projection) and the
/// Raft tables, in one redb file, behind one group-commit writer thread.
///
/// Cheap to clone (a handle). The file closes when the last handle, [`LogStore`],
/// [`StateMachine`] and log reader are dropped.
pub struct RaftStore<C: RaftTypes, E: LogEvent> {
    pub(crate) shared: Arc<Shared<C, E>>,
}

impl<C: RaftTypes, E: LogEvent> Clone for RaftStore<C, E> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// What every handle shares.
pub(crate) struct Shared<C: RaftTypes, E: LogEvent> {
    /// The event log: database, writer thread, projection.
    pub(crate) log: Arc<EventLog<E>>,
    /// Appended entries not yet durable. Jobs hold this (never the event log itself, whose
    /// last handle must not be dropped on the writer thread).
    pub(crate) pending: Arc<Pending<C::NodeId>>,
    /// The last committed log id handed to `save_committed`, which may not be durable yet.
    pub(crate) committed: Mutex<Option<LogId<C::NodeId>>>,
    /// Held by a snapshot transfer from its first received event to its install.
    pub(crate) transfer: Arc<tokio::sync::Mutex<()>>,
    _config: PhantomData<fn() -> C>,
}

impl<C: RaftTypes, E: LogEvent> Shared<C, E> {
    /// The last committed log id given to `save_committed` in this process, if any.
    pub(crate) fn committed(&self) -> Option<LogId<C::NodeId>> {
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Remembers the last committed log id.
    pub(crate) fn set_committed(&self, id: Option<LogId<C::NodeId>>) {
        *self
            .committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = id;
    }

    /// Receives every event of `data` (whose events are in another file) into this log.
    pub(crate) async fn receive_from(&self, data: &SnapshotData) -> Result<(), StoreError> {
        let events = data
            .events_after(Seq::ZERO)?
            .map(|r| r.map(|(seq, bytes)| (seq, Bytes::from(bytes))));
        self.receive(Seq::ZERO, data.last_seq, futures_util::stream::iter(events))
            .await
    }

    /// Receives `events` (`after + 1 ..= last_seq`, in order) into the log,
    /// [`RECEIVE_CHUNK`] per transaction; fails unless they end exactly at `last_seq`.
    pub(crate) async fn receive<S, X>(
        &self,
        after: Seq,
        last_seq: Seq,
        events: S,
    ) -> Result<(), StoreError>
    where
        S: Stream<Item = Result<(Seq, Bytes), X>>,
        X: std::fmt::Display,
    {
        self.log
            .execute_unsynced(move |b| snapshot::begin_receive(b, after))
            .await?;
        let mut events = std::pin::pin!(events.chunks(RECEIVE_CHUNK));
        let mut received = after;
        while let Some(items) = events.next().await {
            // What arrived before a break is written too, so the next transfer resumes
            // after it.
            let mut broke = None;
            let mut chunk: Vec<(Seq, Bytes)> = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Ok(event) => chunk.push(event),
                    Err(e) => {
                        broke = Some(StoreError::Snapshot(format!("the transfer broke: {e}")));
                        break;
                    }
                }
            }
            let Some((last, _)) = chunk.last() else {
                match broke {
                    Some(e) => return Err(e),
                    None => continue,
                }
            };
            if *last > last_seq {
                return Err(StoreError::Snapshot(format!(
                    "the transfer sent events beyond the snapshot's last, {last_seq}"
                )));
            }
            if chunk
                .first()
                .is_some_and(|(seq, _)| *seq != received.next())
            {
                return Err(StoreError::Snapshot(format!(
                    "the transfer skipped events: {} after {received}",
                    chunk[0].0
                )));
            }
            received = *last;
            self.log
                .execute_unsynced(move |b| snapshot::receive_chunk(b, &chunk))
                .await?;
            if let Some(e) = broke {
                return Err(e);
            }
        }
        if received != last_seq {
            return Err(StoreError::Snapshot(format!(
                "the transfer ended at {received}, before the snapshot's last event {last_seq}"
            )));
        }
        Ok(())
    }
}

impl<C: RaftTypes, E: LogEvent> RaftStore<C, E> {
    /// Opens (creating if needed) the replica's file at `path`, whose state machine events are
    /// `E`s maintained with `projection`.
    ///
    /// Errors: [`StoreError::Locked`] if the file is open elsewhere, [`StoreError::Foreign`] if
    /// it is a log of another kind, a log with events but no Raft state, or of a newer Raft
    /// storage format.
    pub fn open(
        path: impl AsRef<Path>,
        projection: impl Projection<E>,
    ) -> Result<Self, StoreError> {
        Self::open_with_cache(path, projection, crate::log::CACHE_BYTES)
    }

    /// [`RaftStore::open`] with a page cache of `cache_bytes` ([`EventLog::open_with_cache`]).
    pub fn open_with_cache(
        path: impl AsRef<Path>,
        projection: impl Projection<E>,
        cache_bytes: usize,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let log = EventLog::open_with_cache(path, projection, cache_bytes)?;
        init_tables(path, log.db())?;
        let interrupted = {
            let tx = log.begin_read()?;
            snapshot::receiving(&tx.open_table(MACHINE)?)?
        };
        if let Some(marker) = interrupted {
            tracing::warn!(path = %path.display(), base = %marker.base, last = %log.last_seq(), "a snapshot transfer was interrupted; its events are kept for the next one to resume from, or taken back out if entries are applied first");
        }
        Ok(Self {
            shared: Arc::new(Shared {
                log: Arc::new(log),
                pending: Arc::new(Pending::new()),
                committed: Mutex::new(None),
                transfer: Arc::new(tokio::sync::Mutex::new(())),
                _config: PhantomData,
            }),
        })
    }

    /// Takes a transfer's received events back out of the log if Raft did not install its
    /// snapshot (it found it no newer than what it has). Call after `install_full_snapshot`
    /// returned, holding the transfer's [`Received`]. Returns how many events went, `None`
    /// when the snapshot was installed.
    pub async fn discard_received(&self, _transfer: &Received) -> Result<Option<u64>, StoreError> {
        self.shared
            .log
            .execute_unsynced(snapshot::discard_received)
            .await
    }

    /// How far this file's event log goes, and the stored bytes of its last event: a
    /// snapshot's sender sends only what follows, if that event is also the sender's.
    pub fn snapshot_position(&self) -> Result<(Seq, Option<Vec<u8>>), StoreError> {
        let read = self.shared.log.read()?;
        let last = read.last_seq()?;
        Ok((last, read.raw_event(last)?))
    }

    /// Receives a snapshot's events `after + 1 ..= last_seq` from `events` (in order, each as
    /// its sequence number and stored bytes) into the event log, [`RECEIVE_CHUNK`] per
    /// transaction. Waits for any other transfer to finish first. The events up to `after`
    /// must be in this log when the snapshot is installed (the sender checked them with
    /// [`RaftStore::snapshot_position`]).
    pub async fn receive_snapshot<S, X>(
        &self,
        meta: &openraft::SnapshotMeta<C::NodeId, C::Node>,
        after: Seq,
        last_seq: Seq,
        events: S,
    ) -> Result<Received, StoreError>
    where
        S: Stream<Item = Result<(Seq, Bytes), X>>,
        X: std::fmt::Display,
    {
        let lock = self.shared.transfer.clone().lock_owned().await;
        self.shared.receive(after, last_seq, events).await?;
        Ok(Received {
            data: SnapshotData {
                last_seq,
                source: Source::Received,
                made_for: format!("{meta:?}"),
            },
            _lock: lock,
        })
    }

    /// The log half for `openraft::Raft::new`. One per store: openraft serializes its calls.
    pub fn log_store(&self) -> LogStore<C, E> {
        LogStore {
            shared: self.shared.clone(),
        }
    }

    /// The state machine half for `openraft::Raft::new`, applying normal entries with
    /// `applier`. One per store.
    pub fn state_machine<A: Apply<C, E>>(&self, applier: A) -> StateMachine<C, E, A> {
        StateMachine {
            shared: self.shared.clone(),
            applier: Arc::new(applier),
        }
    }

    /// The event log holding the applied events and the projection, for reads: projections
    /// (`begin_read`), `read_after`, `subscribe`, and [`crate::follow`].
    ///
    /// Never append through it: every change of the state machine must come from a Raft log
    /// entry applied by [`StateMachine`], or the replicas diverge.
    pub fn event_log(&self) -> &Arc<EventLog<E>> {
        &self.shared.log
    }

    /// The id of the last entry of the Raft log (appended, durable or not; the last purged
    /// one if the log is empty), as the vote's up-to-date check compares it.
    pub fn last_log_id(&self) -> Result<Option<LogId<C::NodeId>>, StoreError> {
        Ok(self.shared.log_state()?.last_log_id)
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        self.shared.log.path()
    }
}

/// Creates the Raft tables if needed and checks (or stamps) the Raft storage format.
fn init_tables(path: &Path, db: &Database) -> Result<(), StoreError> {
    let mut tx = db.begin_write()?;
    tx.set_durability(Durability::Immediate)?;
    {
        tx.open_table(LOG)?;
        tx.open_table(MACHINE)?;
        tx.delete_table(STAGED)?;
        if tx.open_table(MACHINE)?.get(INSTALLING)?.is_some() {
            return Err(StoreError::Snapshot(format!(
                "{}: an earlier build was installing a snapshot when it stopped; this build \
                 cannot finish that install: remove the file and let the replica catch up \
                 from its peers",
                path.display()
            )));
        }
        let mut snapshot = tx.open_table(SNAPSHOT)?;
        if snapshot.get(SNAPSHOT_DATA)?.is_some() {
            // A whole-log copy from before snapshots by reference: no longer read.
            tracing::info!(path = %path.display(), "dropping the old whole-log snapshot; a new one is built by reference when needed");
            snapshot.remove(SNAPSHOT_DATA)?;
            snapshot.remove(SNAPSHOT_META)?;
        }
        drop(snapshot);
        let mut state = tx.open_table(STATE)?;
        match tables::get::<u32, _>(&state, FORMAT)? {
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(StoreError::Foreign {
                    path: path.to_path_buf(),
                    expected: "raft format 1",
                    found: format!("raft format {other}"),
                })
            }
            None => {
                let events = tx.open_table(EVENTS)?.len()?;
                if events > 0 {
                    return Err(StoreError::Foreign {
                        path: path.to_path_buf(),
                        expected: "raft replica",
                        found: format!("a log with {events} events and no raft state"),
                    });
                }
                tables::put(&mut state, FORMAT, &FORMAT_VERSION)?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}
