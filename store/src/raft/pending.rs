//! [`Pending`]: log entries handed to the writer thread but not yet durably committed.
//!
//! openraft requires appended entries to be readable as soon as `append` returns, while the
//! `LogFlushed` callback fires only after the durable commit. Entries therefore go into this
//! overlay first and leave it when their commit completes (on the writer thread, right after
//! the commit); readers look here first, then in the `raft_log` table. Because an entry leaves
//! only after its commit is visible, a reader that reads the overlay and then opens a read
//! transaction sees every entry in one place or the other.
//!
//! It also remembers a failed log write: after one, every later log write is refused (until the
//! file is reopened), so a failed append can never leave a hole under later ones.

use crate::StoreError;
use openraft::{LogId, NodeId};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::span::Span;

/// An encoded entry waiting for its commit.
pub(crate) type PendingEntry<NID> = (LogId<NID>, Arc<[u8]>);

/// The overlay of entries not yet durable, and the failure flag.
#[derive(Debug)]
pub(crate) struct Pending<NID: NodeId> {
    inner: Mutex<Inner<NID>>,
}

#[derive(Debug)]
struct Inner<NID: NodeId> {
    entries: BTreeMap<u64, PendingEntry<NID>>,
    failed: Option<String>,
}

impl<NID: NodeId> Pending<NID> {
    /// An empty overlay.
    pub(crate) fn new() -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: BTreeMap::new(),
                failed: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<NID>> {
        // Every critical section leaves the map consistent, so a poisoned lock is still sound.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes entries readable before their commit.
    pub(crate) fn add(&self, entries: &[PendingEntry<NID>]) {
        let mut inner = self.lock();
        for (id, bytes) in entries {
            inner.entries.insert(id.index, (id.clone(), bytes.clone()));
        }
    }

    /// Their commit finished (either way): the entries leave the overlay, unless a later append
    /// has replaced one of them since.
    pub(crate) fn settle(&self, ids: &[LogId<NID>]) {
        let mut inner = self.lock();
        for id in ids {
            if inner
                .entries
                .get(&id.index)
                .is_some_and(|(held, _)| held == id)
            {
                inner.entries.remove(&id.index);
            }
        }
    }

    /// Drops entries at `index` and after (a truncation).
    pub(crate) fn remove_from(&self, index: u64) {
        self.lock().entries.split_off(&index);
    }

    /// Drops entries up to and including `index` (a purge).
    pub(crate) fn remove_upto(&self, index: u64) {
        let mut inner = self.lock();
        inner.entries = match index.checked_add(1) {
            Some(next) => inner.entries.split_off(&next),
            None => BTreeMap::new(),
        };
    }

    /// The entries in `span`, in index order.
    pub(crate) fn range(&self, span: Span) -> Vec<(u64, Arc<[u8]>)> {
        self.lock()
            .entries
            .range(span.bounds())
            .map(|(&i, (_, bytes))| (i, bytes.clone()))
            .collect()
    }

    /// The log id of the last entry waiting, if any.
    pub(crate) fn last(&self) -> Option<LogId<NID>> {
        self.lock()
            .entries
            .last_key_value()
            .map(|(_, (id, _))| id.clone())
    }

    /// Records that a log write failed: later log writes are refused.
    pub(crate) fn fail(&self, cause: String) {
        let mut inner = self.lock();
        if inner.failed.is_none() {
            inner.failed = Some(cause);
        }
    }

    /// Refuses a log write after an earlier one failed.
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        match &self.lock().failed {
            None => Ok(()),
            Some(cause) => Err(StoreError::Aborted(format!(
                "an earlier raft log write failed, reopen the store: {cause}"
            ))),
        }
    }
}
