//! Backups and restores of a replica's file (docs/DESIGN.md, "Backups").
//!
//! A backup is a snapshot by reference taken out of the file: [`RaftStore::view`] reads the
//! state machine's position (last applied log id, membership, last event) in one read
//! transaction, and the events 1..=S it names never change again, so streaming them
//! afterwards (from another read transaction) is a consistent copy however much is
//! applied meanwhile. Writers are never held up: a read transaction takes no lock.
//!
//! [`RaftStore::seed`] writes such a copy into a pristine file: the events in large
//! transactions (as a snapshot transfer's), then in one durable transaction their
//! projection rows, the applied position, the membership, the current snapshot and the
//! Raft log's purge point at the last applied log id, so openraft opens it as a replica
//! that installed that snapshot (no log entry), with an uncommitted vote for the leader of
//! that entry in its term, so that its elections start above that term. A [`Seeded`] note
//! says what the file holds and where it came from.
//!
//! A file seeded for one replica of a running group (a wiped replica restored from a
//! backup) is marked [`RaftStore::must_rejoin`]: it may have voted in terms its backup
//! knows nothing of, so it must neither vote nor campaign until its group's leader has taken
//! it out of the voters (`toystore_raft::founding`), which then clears the mark
//! ([`RaftStore::rejoined`], `super::rejoin`).

use super::rejoin::REJOIN;
use super::snapshot::{self, Applied};
use super::snapshot_data::{EventSource, SnapshotData};
use super::tables::{self, LOG, MACHINE, PURGED, STATE, VOTE};
use super::{RaftStore, RaftTypes};
use crate::table::ReadTables;
use crate::StoreError;
use bytes::Bytes;
use futures_util::Stream;
use openraft::{Snapshot, SnapshotMeta, Vote};
use redb::ReadableTableMetadata;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use toystore_events::{LogEvent, Seq};

/// `MACHINE`: what a seeded file holds ([`Seeded`]).
const SEEDED: &str = "seeded";

/// What a seeded file holds and where it came from, written with its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeded {
    /// Where the events came from (a replica's URL and id, or a file's path).
    pub from: String,
    /// When the copy was taken, in seconds since the Unix epoch.
    pub taken_at: u64,
    /// The last applied log id it holds, as text (`term-leader-index`).
    pub applied: String,
    /// Its last event: it holds events 1..=this.
    pub last_seq: u64,
}

impl<C: RaftTypes, E: LogEvent> RaftStore<C, E> {
    /// The state machine as of now, by reference: its metadata and the events 1..=S it
    /// covers, read in one read transaction (`None` if nothing was applied yet). Reading
    /// the events later still gives exactly these: they never change.
    pub fn view(&self) -> Result<Option<Snapshot<C>>, StoreError> {
        let tx = self.shared.log.begin_read()?;
        let ((last_applied, membership), last_seq) = position::<C>(tx)?;
        if last_applied.is_none() {
            return Ok(None);
        }
        let meta = SnapshotMeta {
            snapshot_id: snapshot::snapshot_id::<C>(&last_applied),
            last_log_id: last_applied,
            last_membership: membership,
        };
        let made_for = format!("{meta:?}");
        let data = SnapshotData::file(
            &(self.shared.log.clone() as Arc<dyn EventSource>),
            last_seq,
            made_for,
        );
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(data),
        }))
    }

    /// Writes the snapshot `meta` (events 1..=`last_seq`, from `events`, in order) into this
    /// file, which must be pristine (no event, no Raft log entry, nothing applied), and notes
    /// `seeded` in it. With `rejoin`, the file is marked [`RaftStore::must_rejoin`].
    ///
    /// Errors: [`StoreError::Snapshot`] if the file is not pristine, `meta` names no applied
    /// log id, or the events do not end at `last_seq`; the store's own on a failed write.
    pub async fn seed<S, X>(
        &self,
        meta: SnapshotMeta<C::NodeId, C::Node>,
        last_seq: Seq,
        events: S,
        seeded: Seeded,
        rejoin: bool,
    ) -> Result<(), StoreError>
    where
        S: Stream<Item = Result<(Seq, Bytes), X>>,
        X: std::fmt::Display,
    {
        let Some(applied) = meta.last_log_id.clone() else {
            return Err(StoreError::Snapshot(
                "a copy of a state machine that applied nothing holds nothing".into(),
            ));
        };
        let _transfer = self.shared.transfer.clone().lock_owned().await;
        self.pristine()?;
        self.shared.receive(Seq::ZERO, last_seq, events).await?;
        self.shared
            .log
            .execute(move |b| {
                snapshot::install::<C, E>(b, &meta, last_seq)?;
                let mut state = b.tx().open_table(STATE)?;
                tables::put(&mut state, PURGED, &applied)?;
                // The term its last entry was written in has passed: elections start above
                // it (a vote below the log's last term would let a leader write entries
                // with a lower term after higher ones).
                let vote = Vote::new(applied.leader_id.term, applied.leader_id.node_id);
                tables::put(&mut state, VOTE, &vote)?;
                if rejoin {
                    tables::put(&mut state, REJOIN, &true)?;
                }
                drop(state);
                tables::put(&mut b.tx().open_table(MACHINE)?, SEEDED, &seeded)?;
                Ok(())
            })
            .await
    }

    /// Fails unless the file holds no event, no Raft log entry and no applied position.
    fn pristine(&self) -> Result<(), StoreError> {
        let tx = self.shared.log.begin_read()?;
        let log_entries = tx.open_table(LOG)?.len()?;
        let machine = tx.open_table(MACHINE)?;
        let (applied, _) = snapshot::read_applied::<C, _>(&machine)?;
        let receiving = snapshot::receiving(&machine)?;
        // Every event, a transfer's received ones included.
        let last_seq = ReadTables::new(tx).last_seq()?;
        if log_entries > 0 || applied.is_some() || receiving.is_some() || last_seq != Seq::ZERO {
            return Err(StoreError::Snapshot(format!(
                "{} is not empty ({last_seq} events, {log_entries} Raft log entries): only a \
                 new file is seeded",
                self.path().display()
            )));
        }
        Ok(())
    }

    /// What this file was seeded with, if it was ([`RaftStore::seed`]).
    pub fn seeded(&self) -> Result<Option<Seeded>, StoreError> {
        let tx = self.shared.log.begin_read()?;
        tables::get(&tx.open_table(MACHINE)?, SEEDED)
    }
}

/// The state machine's position in `tx` (last applied log id, membership) and the last
/// event it covers (a transfer's received events are not part of it).
pub(crate) fn position<C: RaftTypes>(
    tx: redb::ReadTransaction,
) -> Result<(Applied<C>, Seq), StoreError> {
    let machine = tx.open_table(MACHINE)?;
    let applied = snapshot::read_applied::<C, _>(&machine)?;
    let log_last = ReadTables::new(tx).last_seq()?;
    let last_seq = snapshot::applied_last_seq(&machine, log_last)?;
    Ok((applied, last_seq))
}
