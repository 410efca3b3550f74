//! [`StoreError`]: everything that can go wrong with an event log.

use std::path::PathBuf;
use toystore_events::{DecodeError, Seq};

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file does not exist (only from [`crate::EventLog::open_existing`]).
    #[error("{0}: no such file")]
    Missing(PathBuf),
    /// Another process (or another handle in this one) has the file open.
    #[error("{0}: the database is in use by another process (stop its service first)")]
    Locked(PathBuf),
    /// The file has damaged pages (or was rolled back past them): it is not served
    /// ([`crate::integrity`]).
    #[error(
        "{path}: damaged ({detail}); refusing to serve it. Rebuild this replica from its \
         peers: set the file aside with `tools rebuild --config <cluster file> {path}` and \
         start the replica again (it rejoins with an empty file and is caught up). A \
         service with no peers (the lab's single catalog) cannot be rebuilt that way: it has \
         no other copy \
         (docs/OPERATIONS.md, \"A replica's file is damaged\")"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The file is a redb database of another kind, or not a toystore log at all.
    #[error("{path}: not a {expected} log (found {found})")]
    Foreign {
        /// The file.
        path: PathBuf,
        /// The kind the caller asked for.
        expected: &'static str,
        /// What the file says it is.
        found: String,
    },
    /// A stored event could not be decoded.
    #[error("event {seq}: {source}")]
    Decode {
        /// Which event.
        seq: Seq,
        /// Why.
        source: DecodeError,
    },
    /// An append at an explicit sequence number that is not the next one.
    #[error("out of order append: the log expects seq {expected}, got {got}")]
    OutOfOrder {
        /// The next sequence number of the log.
        expected: Seq,
        /// The one asked for.
        got: Seq,
    },
    /// A projection found its table in a state its events cannot explain.
    #[error("projection {table}: {message}")]
    Projection {
        /// The table.
        table: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The batch this request was part of failed (because of another request or the commit);
    /// nothing of the batch was written.
    #[error("transaction aborted, nothing written: {0}")]
    Aborted(String),
    /// A Raft value (log entry, vote, log id, membership, snapshot) could not be encoded, or
    /// stored bytes could not be decoded as one.
    #[error("raft {what}: {message}")]
    RaftValue {
        /// What was being encoded or decoded, e.g. `"log entry 7"`.
        what: String,
        /// Why it failed.
        message: String,
    },
    /// Applying a Raft log entry to the state machine failed (the applier refused it, or its
    /// writes failed); nothing of the entry's batch was written.
    #[error("applying raft log entry {index}: {source}")]
    Apply {
        /// The log index of the entry.
        index: u64,
        /// Why.
        source: Box<StoreError>,
    },
    /// A Raft snapshot that cannot be installed here (another kind of log, or data that does
    /// not match its metadata).
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// A row given to [`crate::table::TableMut::append`] whose key is not above the key
    /// before it (or the table's last key); nothing of that row was written.
    #[error("an appended row's key is not above the key before it")]
    Unordered,
    /// The log has been closed.
    #[error("the event log is closed")]
    Closed,
    /// An error from redb.
    #[error("storage: {0}")]
    Storage(#[from] redb::Error),
    /// An I/O error outside redb.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Storage(e.into())
            }
        }
    )*};
}

from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
