//! [`LogStore`] (openraft's `RaftLogStorage`) and [`LogReader`] (its `RaftLogReader`).
//!
//! Writes go through the event log's group-commit writer thread, in the order openraft makes
//! them (so vote, appends, truncations and purges are serialized, as openraft requires), each
//! committed with `Durability::Immediate`:
//! - `append` encodes the entries, puts them in the [`super::pending::Pending`] overlay
//!   (readable at once) and queues an [`AppendJob`]; it returns without waiting, and the job
//!   calls `LogFlushed` after the durable commit, so appends, votes and applies that arrive
//!   together share one commit;
//! - `save_vote`, `truncate` and `purge` return after their durable commit;
//! - `save_committed` queues its write and returns: the committed log id becomes durable with
//!   the next commit (usually the apply right behind it). openraft treats it as optional; a
//!   value lost in a crash only means re-applying less on restart.
//!
//! Reads look at the overlay, then use one read transaction.

use super::error::OrStorage;
use super::jobs::AppendJob;
use super::pending::PendingEntry;
use super::span::Span;
use super::store::Shared;
use super::tables::{self, COMMITTED, LOG, PURGED, STATE, VOTE};
use super::{codec, RaftTypes};
use crate::{Batch, StoreError};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    Entry, ErrorSubject, ErrorVerb, LogId, LogState, OptionalSend, RaftLogReader, RaftTypeConfig,
    StorageError, Vote,
};
use redb::ReadableTable;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::sync::Arc;
use toystore_events::LogEvent;

/// The Raft log half of a [`super::RaftStore`]: implements `RaftLogStorage`.
pub struct LogStore<C: RaftTypes, E: LogEvent> {
    pub(crate) shared: Arc<Shared<C, E>>,
}

/// Reads log entries for openraft's replication tasks. Cheap to clone (one `Arc`).
pub struct LogReader<C: RaftTypes, E: LogEvent> {
    shared: Arc<Shared<C, E>>,
}

impl<C: RaftTypes, E: LogEvent> Clone for LogReader<C, E> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

/// openraft's result type for this configuration.
type RaftResult<T, C> = Result<T, StorageError<<C as RaftTypeConfig>::NodeId>>;

/// Decodes the entry stored at `index`, checking that it is the entry for that index.
fn decode_entry<C: RaftTypes>(index: u64, bytes: &[u8]) -> Result<Entry<C>, StoreError> {
    let entry: Entry<C> = codec::decode(|| format!("log entry {index}"), bytes)?;
    if entry.log_id.index != index {
        return Err(StoreError::RaftValue {
            what: format!("log entry {index}"),
            message: format!("holds the entry of index {}", entry.log_id.index),
        });
    }
    Ok(entry)
}

impl<C: RaftTypes, E: LogEvent> Shared<C, E> {
    /// The entries in `range`: the overlay's, and the table's for indexes not in it.
    // openraft's `StorageError` is large, and what `try_get_log_entries` returns.
    #[allow(clippy::result_large_err)]
    fn entries(&self, range: &impl RangeBounds<u64>) -> RaftResult<Vec<Entry<C>>, C> {
        let Some(span) = Span::of(range) else {
            return Ok(Vec::new());
        };
        // The overlay first: an entry leaves it only after its commit is visible.
        let pending: BTreeMap<u64, Arc<[u8]>> = self.pending.range(span).into_iter().collect();
        let mut out = BTreeMap::new();
        let mut stored = || -> Result<(), StoreError> {
            let tx = self.log.begin_read()?;
            let table = tx.open_table(LOG)?;
            for row in table.range(span.bounds())? {
                let (k, v) = row?;
                let index = k.value();
                if !pending.contains_key(&index) {
                    out.insert(index, decode_entry::<C>(index, v.value())?);
                }
            }
            Ok(())
        };
        stored().or_storage(ErrorSubject::Logs, ErrorVerb::Read)?;
        for (index, bytes) in &pending {
            let entry = decode_entry::<C>(*index, bytes)
                .or_storage(ErrorSubject::LogIndex(*index), ErrorVerb::Read)?;
            out.insert(*index, entry);
        }
        Ok(out.into_values().collect())
    }

    /// Last purged and last log id.
    pub(crate) fn log_state(&self) -> Result<LogState<C>, StoreError> {
        // The overlay first, as for entries: what is not there any more is in the table.
        let waiting = self.pending.last();
        let tx = self.log.begin_read()?;
        let purged: Option<LogId<C::NodeId>> = tables::get(&tx.open_table(STATE)?, PURGED)?;
        let last = match waiting {
            Some(id) => Some(id),
            None => match tx.open_table(LOG)?.last()? {
                Some((k, v)) => Some(decode_entry::<C>(k.value(), v.value())?.log_id),
                None => None,
            },
        };
        Ok(LogState {
            last_log_id: last.or_else(|| purged.clone()),
            last_purged_log_id: purged,
        })
    }

    /// A value of the `raft_state` table.
    fn state_value<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let tx = self.log.begin_read()?;
        let table = tx.open_table(STATE)?;
        tables::get(&table, key)
    }

    /// Runs a log write in the next group commit and waits for it; refused after an earlier
    /// log write failed, and if it fails, later log writes are refused.
    async fn log_write<F>(&self, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(&mut Batch<'_, E>) -> Result<(), StoreError> + Send + 'static,
    {
        let pending = self.pending.clone();
        let written = self
            .log
            .execute(move |b| {
                pending.check()?;
                f(b)
            })
            .await;
        if let Err(e) = &written {
            self.pending.fail(e.to_string());
        }
        written
    }
}

impl<C: RaftTypes, E: LogEvent> RaftLogReader<C> for LogReader<C, E> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> RaftResult<Vec<Entry<C>>, C> {
        self.shared.entries(&range)
    }
}

impl<C: RaftTypes, E: LogEvent> RaftLogReader<C> for LogStore<C, E> {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> RaftResult<Vec<Entry<C>>, C> {
        self.shared.entries(&range)
    }
}

impl<C: RaftTypes, E: LogEvent> RaftLogStorage<C> for LogStore<C, E> {
    type LogReader = LogReader<C, E>;

    async fn get_log_state(&mut self) -> RaftResult<LogState<C>, C> {
        self.shared
            .log_state()
            .or_storage(ErrorSubject::Logs, ErrorVerb::Read)
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader {
            shared: self.shared.clone(),
        }
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> RaftResult<(), C> {
        let save = async {
            let bytes = codec::encode(|| VOTE.to_string(), vote)?;
            self.shared
                .log_write(move |b| {
                    b.tx().open_table(STATE)?.insert(VOTE, bytes.as_slice())?;
                    Ok(())
                })
                .await
        };
        save.await.or_storage(ErrorSubject::Vote, ErrorVerb::Write)
    }

    async fn read_vote(&mut self) -> RaftResult<Option<Vote<C::NodeId>>, C> {
        self.shared
            .state_value(VOTE)
            .or_storage(ErrorSubject::Vote, ErrorVerb::Read)
    }

    async fn save_committed(&mut self, committed: Option<LogId<C::NodeId>>) -> RaftResult<(), C> {
        let queue = || -> Result<(), StoreError> {
            let bytes = codec::encode(|| COMMITTED.to_string(), &committed)?;
            self.shared.log.execute_detached(move |b| {
                b.tx()
                    .open_table(STATE)?
                    .insert(COMMITTED, bytes.as_slice())?;
                Ok(())
            })
        };
        queue().or_storage(ErrorSubject::Store, ErrorVerb::Write)?;
        self.shared.set_committed(committed);
        Ok(())
    }

    async fn read_committed(&mut self) -> RaftResult<Option<LogId<C::NodeId>>, C> {
        if let Some(id) = self.shared.committed() {
            return Ok(Some(id));
        }
        let stored: Option<Option<LogId<C::NodeId>>> = self
            .shared
            .state_value(COMMITTED)
            .or_storage(ErrorSubject::Store, ErrorVerb::Read)?;
        Ok(stored.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> RaftResult<(), C>
    where
        I: IntoIterator<Item = Entry<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut encoded: Vec<PendingEntry<C::NodeId>> = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            let bytes = codec::encode(|| format!("log entry {index}"), &entry)
                .or_storage(ErrorSubject::Log(entry.log_id.clone()), ErrorVerb::Write)?;
            encoded.push((entry.log_id, bytes.into()));
        }
        self.shared
            .pending
            .check()
            .or_storage(ErrorSubject::Logs, ErrorVerb::Write)?;
        if encoded.is_empty() {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        let ids: Vec<_> = encoded.iter().map(|(id, _)| id.clone()).collect();
        self.shared.pending.add(&encoded);
        let job = AppendJob {
            entries: encoded,
            pending: self.shared.pending.clone(),
            callback,
        };
        if let Err(e) = self.shared.log.submit_job(Box::new(job)) {
            self.shared.pending.settle(&ids);
            return Err(e).or_storage(ErrorSubject::Logs, ErrorVerb::Write);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> RaftResult<(), C> {
        let index = log_id.index;
        self.shared.pending.remove_from(index);
        self.shared
            .log_write(move |b| {
                b.tx().open_table(LOG)?.retain_in(index.., |_, _| false)?;
                Ok(())
            })
            .await
            .or_storage(ErrorSubject::Log(log_id), ErrorVerb::Delete)
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> RaftResult<(), C> {
        let index = log_id.index;
        self.shared.pending.remove_upto(index);
        let upto = log_id.clone();
        self.shared
            .log_write(move |b| {
                b.tx().open_table(LOG)?.retain_in(..=index, |_, _| false)?;
                let mut state = b.tx().open_table(STATE)?;
                let before: Option<LogId<C::NodeId>> = tables::get(&state, PURGED)?;
                if before.as_ref().is_none_or(|b| *b < upto) {
                    tables::put(&mut state, PURGED, &upto)?;
                }
                Ok(())
            })
            .await
            .or_storage(ErrorSubject::Log(log_id), ErrorVerb::Delete)
    }
}
