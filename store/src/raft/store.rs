//! [`RaftStore`]: opens one replica's redb file for Raft and hands out the two halves openraft
//! takes ([`LogStore`], [`StateMachine`]) plus read access to the event log.
//!
//! Opening creates the Raft tables next to the event log's and stamps the Raft storage format.
//! A file that already holds events but no Raft state (an order log from before Raft) is
//! refused as [`StoreError::Foreign`], never adopted: its events were not applied from any
//! Raft log.

use super::tables::{self, FORMAT, FORMAT_VERSION, LOG, MACHINE, SNAPSHOT, STATE};
use super::{Apply, LogStore, Pending, RaftTypes, StateMachine};
use crate::writer::EVENTS;
use crate::{EventLog, Projection, StoreError};
use openraft::LogId;
use redb::{Database, Durability, ReadableTableMetadata};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use toystore_events::LogEvent;

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
        let path = path.as_ref();
        let log = EventLog::open(path, projection)?;
        init_tables(path, log.db())?;
        Ok(Self {
            shared: Arc::new(Shared {
                log: Arc::new(log),
                pending: Arc::new(Pending::new()),
                committed: Mutex::new(None),
                _config: PhantomData,
            }),
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
        tx.open_table(SNAPSHOT)?;
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
