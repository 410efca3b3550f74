//! [`SnapshotData`]: what a snapshot carries instead of bytes, a reference to its events.
//!
//! The state machine is the append-only event log, so "everything up to seq S" (with the
//! last applied log id and membership in openraft's `SnapshotMeta`) describes a snapshot
//! completely. Events up to an applied position never change again, so the reference stays
//! valid for as long as the file lives: building a snapshot copies nothing.
//!
//! A snapshot's events are either in a log file ([`SnapshotData::events_after`] streams them
//! from a read transaction, in order, for a sender) or were received into this file's own
//! log by a transfer ([`crate::raft::RaftStore::receive_snapshot`]), which
//! `install_snapshot` then makes the applied state.

use crate::table::RawIter;
use crate::{EventLog, StoreError};
use std::fmt;
use std::sync::{Arc, Weak};
use toystore_events::{LogEvent, Seq};

/// A source of stored events: a log file.
pub(crate) trait EventSource: Send + Sync + 'static {
    /// The stored events after `after`, in order, from one read transaction.
    fn raw_after(&self, after: Seq) -> Result<RawIter, StoreError>;
    /// The log kind.
    fn kind(&self) -> &'static str;
}

impl<E: LogEvent> EventSource for EventLog<E> {
    fn raw_after(&self, after: Seq) -> Result<RawIter, StoreError> {
        self.read_raw_after(after)
    }

    fn kind(&self) -> &'static str {
        E::KIND
    }
}

/// Where a snapshot's events are.
#[derive(Clone)]
pub(crate) enum Source {
    /// In a log file (a snapshot built there, or held there as current). Weak: holding a
    /// snapshot does not keep its file open; reading one whose file was closed is an error.
    File(Weak<dyn EventSource>),
    /// Received into the installing file's own log by a transfer
    /// ([`crate::raft::RaftStore::receive_snapshot`]).
    Received,
    /// Nothing yet (what `begin_receiving_snapshot` hands out; openraft's own transfer is not
    /// used).
    Empty,
}

/// openraft's `SnapshotData` for this storage: the snapshot's last sequence number and where
/// its events 1..=last are.
#[derive(Clone)]
pub struct SnapshotData {
    pub(crate) last_seq: Seq,
    pub(crate) source: Source,
    /// The metadata it was made for (its `Debug` text), so data installed under other
    /// metadata is refused.
    pub(crate) made_for: String,
}

impl fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::File(s) => match s.upgrade() {
                Some(s) => format!("file of a {} log", s.kind()),
                None => "a closed file".to_string(),
            },
            Source::Received => "received".to_string(),
            Source::Empty => "empty".to_string(),
        };
        f.debug_struct("SnapshotData")
            .field("last_seq", &self.last_seq)
            .field("source", &source)
            .finish()
    }
}

impl SnapshotData {
    /// The snapshot's last sequence number: it holds events 1..=this.
    pub fn last_seq(&self) -> Seq {
        self.last_seq
    }

    /// The snapshot's events after `after`, up to its last, as stored bytes, in order, from
    /// one read transaction (bounded memory: read as iterated). Only a snapshot whose events
    /// are in a file (one this replica built or holds) can be read.
    pub fn events_after(
        &self,
        after: Seq,
    ) -> Result<impl Iterator<Item = Result<(Seq, Vec<u8>), StoreError>> + Send, StoreError> {
        let Some(file) = self.file_source() else {
            return Err(StoreError::Snapshot(format!(
                "{self:?} cannot be read: its events are not in an open file"
            )));
        };
        let last = self.last_seq;
        Ok(file
            .raw_after(after)?
            .take_while(move |item| item.as_ref().map_or(true, |(seq, _)| *seq <= last)))
    }

    pub(crate) fn file(source: &Arc<dyn EventSource>, last_seq: Seq, made_for: String) -> Self {
        Self {
            last_seq,
            source: Source::File(Arc::downgrade(source)),
            made_for,
        }
    }

    /// The file holding the events, if they are in one that is open.
    pub(crate) fn file_source(&self) -> Option<Arc<dyn EventSource>> {
        match &self.source {
            Source::File(file) => file.upgrade(),
            _ => None,
        }
    }

    pub(crate) fn empty() -> Self {
        Self {
            last_seq: Seq::ZERO,
            source: Source::Empty,
            made_for: String::new(),
        }
    }
}
