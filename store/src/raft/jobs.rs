//! [`AppendJob`]: a Raft log append as a writer-thread job.
//!
//! It writes its entries into `raft_log` inside the next group commit (together with whatever
//! else is waiting: other appends, votes, applies), and when that commit has finished, on the
//! writer thread, it takes the entries out of the [`Pending`] overlay and calls openraft's
//! `LogFlushed` callback: `Ok` only after the durable commit, the error otherwise. A failed
//! append marks the log failed, so no later append can land after a hole.

use super::pending::{Pending, PendingEntry};
use super::tables::LOG;
use super::RaftTypes;
use crate::writer::Work;
use crate::{Batch, StoreError};
use openraft::storage::LogFlushed;
use std::sync::Arc;
use toystore_events::LogEvent;

/// Entries to append, and who to tell when they are durable.
pub(crate) struct AppendJob<C: RaftTypes> {
    pub(crate) entries: Vec<PendingEntry<C::NodeId>>,
    pub(crate) pending: Arc<Pending<C::NodeId>>,
    pub(crate) callback: LogFlushed<C>,
}

impl<C: RaftTypes, E: LogEvent> Work<E> for AppendJob<C> {
    fn run(&mut self, batch: &mut Batch<'_, E>) -> Result<(), StoreError> {
        self.pending.check()?;
        let mut table = batch.tx().open_table(LOG)?;
        for (id, bytes) in &self.entries {
            table.insert(id.index, &bytes[..])?;
        }
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: Result<(), StoreError>) {
        let AppendJob {
            entries,
            pending,
            callback,
        } = *self;
        if let Err(e) = &outcome {
            pending.fail(e.to_string());
        }
        let ids: Vec<_> = entries.into_iter().map(|(id, _)| id).collect();
        pending.settle(&ids);
        callback.log_io_completed(outcome.map_err(std::io::Error::other));
    }
}
