//! [`StateMachine`] (openraft's `RaftStateMachine`) and [`SnapshotBuilder`].
//!
//! - `apply` runs the whole slice of committed entries as one job of the group-commit writer:
//!   normal entries through the [`Apply`] implementation, and in the same transaction the last
//!   applied log id and (for a membership entry) the membership. It returns the replies after
//!   the durable commit.
//! - `get_snapshot_builder` opens a read transaction at once, so the builder sees the state
//!   machine as it was then whatever is applied meanwhile; `build_snapshot` records its
//!   position (metadata and last sequence number, nothing else) as the current snapshot,
//!   without an fsync of its own (the purge that follows is durable and persists it
//!   first): constant cost whatever the log's length.
//! - `install_snapshot` makes the snapshot's position the state machine's and the snapshot
//!   current, in one transaction that also builds the received events' projection rows: a transfer already wrote its events into the log
//!   ([`super::snapshot`]); a snapshot whose events are in another file (in-process, e.g.
//!   openraft's storage suite) has them received from it first. `apply` sets the events of
//!   a transfer being received aside before applying entries, and the transfer goes on
//!   after them.
//! - `get_current_snapshot` reads the stored position, so it survives a restart; its data
//!   reads the events from this file.

use super::error::OrStorage;
use super::snapshot::{self, Applied};
use super::snapshot_data::{EventSource, SnapshotData, Source};
use super::store::Shared;
use super::tables::{self, APPLIED, MACHINE, MEMBERSHIP, SNAPSHOT};
use super::{Apply, RaftTypes};
use crate::{Batch, StoreError};
use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftSnapshotBuilder,
    RaftTypeConfig, Snapshot, SnapshotMeta, StorageError, StoredMembership,
};
use redb::ReadTransaction;
use std::sync::Arc;
use toystore_events::{LogEvent, Seq};

/// The state machine half of a [`super::RaftStore`]: implements `RaftStateMachine`, applying
/// normal entries with `A`.
pub struct StateMachine<C: RaftTypes, E: LogEvent, A: Apply<C, E>> {
    pub(crate) shared: Arc<Shared<C, E>>,
    pub(crate) applier: Arc<A>,
}

/// Builds a snapshot of the state machine as it was when the builder was made.
pub struct SnapshotBuilder<C: RaftTypes, E: LogEvent> {
    shared: Arc<Shared<C, E>>,
    /// The read transaction opened with the builder (`None` if that failed, or once used: a
    /// new one is opened then).
    view: Option<ReadTransaction>,
}

/// openraft's result type for this configuration.
type RaftResult<T, C> = Result<T, StorageError<<C as RaftTypeConfig>::NodeId>>;

/// Applies `entries` inside the open transaction; returns one reply per entry.
fn apply_entries<C: RaftTypes, E: LogEvent, A: Apply<C, E>>(
    applier: &A,
    batch: &mut Batch<'_, E>,
    entries: &[Entry<C>],
) -> Result<Vec<C::R>, StoreError> {
    let receiving = snapshot::set_aside_received(batch)?;
    if let Some(removed @ 1..) = receiving {
        tracing::info!(
            removed,
            "entries applied during a snapshot transfer: its received events were set aside"
        );
    }
    let mut replies = Vec::with_capacity(entries.len());
    let mut membership = None;
    let mut normal: Vec<(&LogId<C::NodeId>, &C::D)> = Vec::new();
    for entry in entries {
        if let EntryPayload::Normal(data) = &entry.payload {
            normal.push((&entry.log_id, data));
            continue;
        }
        replies.extend(apply_normal(applier, batch, &mut normal)?);
        if let EntryPayload::Membership(m) = &entry.payload {
            membership = Some(StoredMembership::new(Some(entry.log_id.clone()), m.clone()));
        }
        replies.push(applier.reply_without_data());
    }
    replies.extend(apply_normal(applier, batch, &mut normal)?);
    if receiving.is_some() {
        snapshot::rebase_received(batch)?;
    }
    let mut machine = batch.tx().open_table(MACHINE)?;
    if let Some(last) = entries.last() {
        tables::put(&mut machine, APPLIED, &last.log_id)?;
    }
    if let Some(m) = membership {
        tables::put(&mut machine, MEMBERSHIP, &m)?;
    }
    Ok(replies)
}

/// Applies the run of normal entries gathered in `normal` (emptying it) with one
/// [`Apply::apply_all`].
fn apply_normal<C: RaftTypes, E: LogEvent, A: Apply<C, E>>(
    applier: &A,
    batch: &mut Batch<'_, E>,
    normal: &mut Vec<(&LogId<C::NodeId>, &C::D)>,
) -> Result<Vec<C::R>, StoreError> {
    let Some((first, _)) = normal.first() else {
        return Ok(Vec::new());
    };
    let first = first.index;
    let replies = applier.apply_all(batch, normal).map_err(|e| match e {
        StoreError::Apply { .. } => e,
        other => StoreError::Apply {
            index: first,
            source: Box::new(other),
        },
    })?;
    normal.clear();
    Ok(replies)
}

impl<C: RaftTypes, E: LogEvent, A: Apply<C, E>> RaftStateMachine<C> for StateMachine<C, E, A> {
    type SnapshotBuilder = SnapshotBuilder<C, E>;

    async fn applied_state(&mut self) -> RaftResult<Applied<C>, C> {
        let read = || -> Result<Applied<C>, StoreError> {
            let tx = self.shared.log.begin_read()?;
            snapshot::read_applied::<C, _>(&tx.open_table(MACHINE)?)
        };
        read().or_storage(ErrorSubject::StateMachine, ErrorVerb::Read)
    }

    async fn apply<I>(&mut self, entries: I) -> RaftResult<Vec<C::R>, C>
    where
        I: IntoIterator<Item = Entry<C>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry<C>> = entries.into_iter().collect();
        let Some(last) = entries.last().map(|e| e.log_id.clone()) else {
            return Ok(Vec::new());
        };
        let ids: Vec<LogId<C::NodeId>> = entries.iter().map(|e| e.log_id.clone()).collect();
        let applier = self.applier.clone();
        let started = std::time::Instant::now();
        let applied = self
            .shared
            .log
            .execute_unsynced(move |b| apply_entries(applier.as_ref(), b, &entries))
            .await;
        if applied.is_ok() {
            self.applier.applied(started.elapsed());
        }
        applied.map_err(|e| {
            let at = match &e {
                StoreError::Apply { index, .. } => ids.iter().find(|id| id.index == *index),
                _ => None,
            };
            let subject = ErrorSubject::Apply(at.cloned().unwrap_or(last));
            super::error::storage_error(subject, ErrorVerb::Write, &e)
        })
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        let view = match self.shared.log.begin_read() {
            Ok(tx) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open the snapshot's read transaction yet");
                None
            }
        };
        SnapshotBuilder {
            shared: self.shared.clone(),
            view,
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> RaftResult<Box<SnapshotData>, C> {
        Ok(Box::new(SnapshotData::empty()))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<C::NodeId, C::Node>,
        snapshot: Box<SnapshotData>,
    ) -> RaftResult<(), C> {
        let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
        let data = *snapshot;
        if !matches!(data.source, Source::Empty) && data.made_for != format!("{meta:?}") {
            let e = StoreError::Snapshot(format!(
                "its data (made for {}) does not match its metadata {meta}",
                data.made_for
            ));
            return Err(e).or_storage(subject(), ErrorVerb::Read);
        }
        match &data.source {
            Source::Received => {}
            Source::File(_) => {
                let Some(file) = data.file_source() else {
                    let e = StoreError::Snapshot(format!("{data:?}: its file is closed"));
                    return Err(e).or_storage(subject(), ErrorVerb::Read);
                };
                if file.kind() != E::KIND {
                    let e = StoreError::Snapshot(format!(
                        "a snapshot of a {} log, not of a {} log",
                        file.kind(),
                        E::KIND
                    ));
                    return Err(e).or_storage(subject(), ErrorVerb::Read);
                }
                let _transfer = self.shared.transfer.clone().lock_owned().await;
                self.shared
                    .receive_from(&data)
                    .await
                    .or_storage(subject(), ErrorVerb::Write)?;
            }
            Source::Empty => {
                let e = StoreError::Snapshot(format!("{data:?} holds no events"));
                return Err(e).or_storage(subject(), ErrorVerb::Read);
            }
        }
        let meta = meta.clone();
        let last_seq = data.last_seq;
        self.shared
            .log
            .execute(move |b| snapshot::install::<C, E>(b, &meta, last_seq))
            .await
            .or_storage(subject(), ErrorVerb::Write)
    }

    async fn get_current_snapshot(&mut self) -> RaftResult<Option<Snapshot<C>>, C> {
        let read = || -> Result<Option<Snapshot<C>>, StoreError> {
            let tx = self.shared.log.begin_read()?;
            let current = snapshot::current::<C, _>(&tx.open_table(SNAPSHOT)?)?;
            Ok(current.map(|(meta, last_seq)| {
                let made_for = format!("{meta:?}");
                Snapshot {
                    meta,
                    snapshot: Box::new(SnapshotData::file(
                        &(self.shared.log.clone() as Arc<dyn EventSource>),
                        last_seq,
                        made_for,
                    )),
                }
            }))
        };
        read().or_storage(ErrorSubject::Snapshot(None), ErrorVerb::Read)
    }
}

impl<C: RaftTypes, E: LogEvent> RaftSnapshotBuilder<C> for SnapshotBuilder<C, E> {
    async fn build_snapshot(&mut self) -> RaftResult<Snapshot<C>, C> {
        let read = |view: Option<ReadTransaction>| -> Result<(Applied<C>, Seq), StoreError> {
            let tx = match view {
                Some(tx) => tx,
                None => self.shared.log.begin_read()?,
            };
            super::backup::position::<C>(tx)
        };
        let ((last_applied, membership), last_seq) =
            read(self.view.take()).or_storage(ErrorSubject::StateMachine, ErrorVerb::Read)?;
        let meta = SnapshotMeta {
            snapshot_id: snapshot::snapshot_id::<C>(&last_applied),
            last_log_id: last_applied,
            last_membership: membership,
        };
        let subject = || ErrorSubject::Snapshot(Some(meta.signature()));
        let saved_meta = meta.clone();
        let saved = self
            .shared
            .log
            .execute_unsynced(move |b| snapshot::save_current::<C, E>(b, &saved_meta, last_seq))
            .await
            .or_storage(subject(), ErrorVerb::Write)?;
        if !saved {
            tracing::info!(snapshot = %meta, "a newer snapshot is current; this one was not stored");
        }
        tracing::debug!(snapshot = %meta, %last_seq, "snapshot built (by reference)");
        let made_for = format!("{meta:?}");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(SnapshotData::file(
                &(self.shared.log.clone() as Arc<dyn EventSource>),
                last_seq,
                made_for,
            )),
        })
    }
}
