//! Snapshots by reference: building one, receiving one's events, and installing it.
//!
//! A snapshot is its `SnapshotMeta` (last applied log id, membership) and the last sequence
//! number `S` of the event log at that point ([`super::SnapshotData`]): the events 1..=S never
//! change again, so nothing is copied. The current snapshot is stored as those two values
//! ([`save_current`]), a constant-size write whatever the log's length, committed without
//! an fsync of its own: it describes applied state, which is itself committed that way
//! (redone from the Raft log after a crash), and the purge of the Raft log that follows a
//! build is a durable commit, which makes it durable first (redb persists every earlier
//! commit with a durable one). A crash before then leaves the previous snapshot current
//! and the entries it would have purged in the log.
//!
//! A transfer ([`super::RaftStore::receive_snapshot`]) writes the events the receiver lacks
//! straight into its event log, in large transactions ([`receive_chunk`]), without their
//! projection rows (`Batch::append_all_at_unprojected`: the install applies them all at
//! once, in bulk, which for the order index means in key order); the first records a [`Receiving`] marker holding the log's last
//! sequence number before them (`base`), which the applied position still describes.
//! Local events the snapshot shares byte for byte are kept; a local event that differs is
//! truncated with everything after it. [`install`] is then one transaction: the received
//! events are applied to the projection, the applied log id, membership and current
//! snapshot are set and the marker removed. Nothing is
//! copied twice and nothing is staged beside the log.
//!
//! Until then the received events are not applied state: a snapshot built meanwhile ends at
//! `base` ([`applied_last_seq`]); entries applied meanwhile (Raft catching the replica up
//! another way, or committed entries of its own log applied at start-up) first move them
//! into a table of their own and then move `base` past their own events; the transfer's
//! next chunk, or its install, merges them back (equal events kept), so the transfer goes on
//! and an install never misses them ([`set_aside_received`], [`rebase_received`]); a
//! snapshot Raft did not install takes them back out ([`discard_received`]). A transfer cut by a crash or a dropped connection leaves them and the
//! marker: the next transfer starts after the log's last event, so it resumes rather than
//! starts over.

use super::tables::{
    self, APPLIED, ASIDE, MACHINE, MEMBERSHIP, RECEIVING, SNAPSHOT, SNAPSHOT_LAST_SEQ,
    SNAPSHOT_META,
};
use super::RaftTypes;
use crate::schema::EVENTS;
use crate::{Batch, StoreError};
use openraft::{LogId, RaftTypeConfig, SnapshotMeta, StoredMembership};
use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use toystore_events::{LogEvent, Seq};

/// The state machine's position: last applied log id and last membership.
pub(crate) type Applied<C> = (
    Option<LogId<<C as RaftTypeConfig>::NodeId>>,
    StoredMembership<<C as RaftTypeConfig>::NodeId, <C as RaftTypeConfig>::Node>,
);

/// Reads the state machine's position in `tx`.
pub(crate) fn read_applied<C: RaftTypes, Tb>(machine: &Tb) -> Result<Applied<C>, StoreError>
where
    Tb: ReadableTable<&'static str, &'static [u8]>,
{
    let applied = tables::get(machine, APPLIED)?;
    let membership = tables::get(machine, MEMBERSHIP)?.unwrap_or_default();
    Ok((applied, membership))
}

/// A fresh snapshot id: the last applied log id and the time, so ids never repeat.
pub(crate) fn snapshot_id<C: RaftTypes>(last_applied: &Option<LogId<C::NodeId>>) -> String {
    let at = match last_applied {
        Some(id) => format!(
            "{}-{}-{}",
            id.leader_id.term, id.leader_id.node_id, id.index
        ),
        None => "none".to_string(),
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{at}-{nanos}")
}

/// Set-aside events merged back per read of the [`ASIDE`] table (bounds the memory).
const RESTORE_CHUNK: usize = 16_384;

/// A snapshot transfer whose events are being written into the log: recorded with the first
/// of them, removed when a snapshot is installed or the received events are discarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Receiving {
    /// The log's last sequence number before the first received event: what the applied
    /// position describes. Events after it are received, not applied.
    pub(crate) base: Seq,
    /// A received event differed from the local one at its seq and the local events from
    /// there on were truncated (a log that diverged, which a Raft replica's never does):
    /// the log cannot go back to `base`, only forward by an install.
    pub(crate) truncated: bool,
}

/// The transfer being received, if any (one a crash or a broken connection interrupted, if
/// at open).
pub(crate) fn receiving<Tb>(machine: &Tb) -> Result<Option<Receiving>, StoreError>
where
    Tb: ReadableTable<&'static str, &'static [u8]>,
{
    tables::get(machine, RECEIVING)
}

/// The last sequence number the applied position describes: the log's last, unless a
/// transfer's received events follow it.
pub(crate) fn applied_last_seq(
    machine: &impl ReadableTable<&'static str, &'static [u8]>,
    log_last: Seq,
) -> Result<Seq, StoreError> {
    match receiving(machine)? {
        None => Ok(log_last),
        Some(Receiving {
            truncated: false,
            base,
        }) => Ok(base),
        Some(Receiving {
            truncated: true, ..
        }) => Err(StoreError::Snapshot(
            "a snapshot transfer replaced this log's diverged events and has not been \
             installed: the log describes no applied position until one is"
                .into(),
        )),
    }
}

/// Starts (or resumes) receiving a transfer that sends the events after `after`: the log
/// must hold events up to `after` (the sender checked the one at `after`). Records the
/// [`Receiving`] marker unless an interrupted transfer left one (whose received events the
/// sender found to be a prefix of this snapshot's, so they are kept).
pub(crate) fn begin_receive<E: LogEvent>(
    batch: &mut Batch<'_, E>,
    after: Seq,
) -> Result<(), StoreError> {
    if batch.last_seq() < after {
        return Err(StoreError::Snapshot(format!(
            "the log ends at {}, but the transfer assumed it held events up to {after}",
            batch.last_seq()
        )));
    }
    let mut machine = batch.tx().open_table(MACHINE)?;
    if receiving(&machine)?.is_none() {
        let marker = Receiving {
            base: batch.last_seq(),
            truncated: false,
        };
        tables::put(&mut machine, RECEIVING, &marker)?;
    }
    Ok(())
}

/// Writes received events into the log (after merging back any set aside, [`set_aside_received`]):
/// one the log already holds byte for byte is kept; a local event that differs is truncated
/// with everything after it; the rest are appended. Fails if no transfer is being received.
pub(crate) fn receive_chunk<E: LogEvent>(
    batch: &mut Batch<'_, E>,
    events: &[(Seq, bytes::Bytes)],
) -> Result<(), StoreError> {
    let Some(mut marker) = receiving(&batch.tx().open_table(MACHINE)?)? else {
        return Err(StoreError::Snapshot(
            "no transfer is being received here (it was installed or discarded)".into(),
        ));
    };
    restore_aside(batch, &mut marker)?;
    let events: Vec<(Seq, &[u8])> = events
        .iter()
        .map(|(seq, bytes)| (*seq, bytes.as_ref()))
        .collect();
    merge(batch, &mut marker, &events)
}

/// Merges consecutive `events` into the log: equal ones kept, the first that differs
/// truncates the log before it, the rest appended.
fn merge<E: LogEvent>(
    batch: &mut Batch<'_, E>,
    marker: &mut Receiving,
    events: &[(Seq, &[u8])],
) -> Result<(), StoreError> {
    let mut rest = events;
    while let Some(((seq, bytes), tail)) = rest.split_first() {
        if *seq > batch.last_seq() {
            break;
        }
        if !same_event(batch, *seq, bytes)? {
            batch.truncate_after(Seq(seq.0 - 1))?;
            if Seq(seq.0 - 1) < marker.base {
                marker.truncated = true;
                let mut machine = batch.tx().open_table(MACHINE)?;
                tables::put(&mut machine, RECEIVING, marker)?;
            }
            break;
        }
        rest = tail;
    }
    batch.append_all_at_unprojected(rest)
}

/// Merges the events set aside back into the log, [`RESTORE_CHUNK`] at a time, and empties
/// the table that held them.
fn restore_aside<E: LogEvent>(
    batch: &mut Batch<'_, E>,
    marker: &mut Receiving,
) -> Result<(), StoreError> {
    let mut from = 0;
    loop {
        let chunk: Vec<(Seq, Vec<u8>)> = batch
            .tx()
            .open_table(ASIDE)?
            .range(from..)?
            .take(RESTORE_CHUNK)
            .map(|r| r.map(|(k, v)| (Seq(k.value()), v.value().to_vec())))
            .collect::<Result<_, _>>()?;
        let Some((last, _)) = chunk.last() else {
            break;
        };
        from = last.0 + 1;
        let events: Vec<(Seq, &[u8])> = chunk
            .iter()
            .map(|(seq, bytes)| (*seq, bytes.as_slice()))
            .collect();
        merge(batch, marker, &events)?;
    }
    clear_aside(batch)
}

/// Empties the table of events set aside.
fn clear_aside<E: LogEvent>(batch: &mut Batch<'_, E>) -> Result<(), StoreError> {
    let tx = batch.tx();
    if tx.open_table(ASIDE)?.is_empty()? {
        return Ok(());
    }
    tx.delete_table(ASIDE)?;
    Ok(())
}

/// Whether the log holds exactly `bytes` at `seq`.
fn same_event<E: LogEvent>(
    batch: &mut Batch<'_, E>,
    seq: Seq,
    bytes: &[u8],
) -> Result<bool, StoreError> {
    Ok(batch
        .tx()
        .open_table(EVENTS)?
        .get(seq.0)?
        .is_some_and(|v| v.value() == bytes))
}

/// Installs the snapshot `meta` whose events `1..=last_seq` the log now holds (received, or
/// already there): drops any event after them, sets the applied position and membership,
/// makes the snapshot current and removes the [`Receiving`] marker.
pub(crate) fn install<C: RaftTypes, E: LogEvent>(
    batch: &mut Batch<'_, E>,
    meta: &SnapshotMeta<C::NodeId, C::Node>,
    last_seq: Seq,
) -> Result<(), StoreError> {
    let marker = receiving(&batch.tx().open_table(MACHINE)?)?;
    if let Some(mut marker) = marker {
        restore_aside(batch, &mut marker)?;
    }
    if batch.last_seq() > last_seq {
        batch.truncate_after(last_seq)?;
    }
    if batch.last_seq() != last_seq {
        return Err(StoreError::Snapshot(format!(
            "the log ends at {}, not at snapshot {}'s last event {last_seq}",
            batch.last_seq(),
            meta.snapshot_id
        )));
    }
    batch.project()?;
    let mut machine = batch.tx().open_table(MACHINE)?;
    match &meta.last_log_id {
        Some(id) => tables::put(&mut machine, APPLIED, id)?,
        None => {
            machine.remove(APPLIED)?;
        }
    }
    tables::put(&mut machine, MEMBERSHIP, &meta.last_membership)?;
    machine.remove(RECEIVING)?;
    drop(machine);
    save_current::<C, E>(batch, meta, last_seq)?;
    Ok(())
}

/// Takes the received events back out of the log (their snapshot was not installed), back
/// to the marker's base, with any set aside, and removes the marker. Returns how many events
/// went from the log; `None` if no transfer was being received (it was installed).
pub(crate) fn discard_received<E: LogEvent>(
    batch: &mut Batch<'_, E>,
) -> Result<Option<u64>, StoreError> {
    let Some(marker) = undoable(batch)? else {
        return Ok(None);
    };
    clear_aside(batch)?;
    let removed = truncate_to(batch, marker.base)?;
    batch.tx().open_table(MACHINE)?.remove(RECEIVING)?;
    Ok(Some(removed))
}

/// Entries are about to be applied while a transfer is being received: moves its received
/// events out of the log into the [`ASIDE`] table, so the entries' own events land at their
/// seqs; [`rebase_received`] then moves the base past them, and the transfer's next chunk
/// (or its install) merges the set-aside events back (the entries' events are the same
/// committed events, kept). Returns how many events were set aside; `None` without a
/// transfer.
pub(crate) fn set_aside_received<E: LogEvent>(
    batch: &mut Batch<'_, E>,
) -> Result<Option<u64>, StoreError> {
    let Some(marker) = undoable(batch)? else {
        return Ok(None);
    };
    if batch.last_seq() > marker.base {
        let tx = batch.tx();
        let events = tx.open_table(EVENTS)?;
        let mut aside = tx.open_table(ASIDE)?;
        for row in events.range(marker.base.0 + 1..)? {
            let (seq, bytes) = row?;
            aside.insert(seq.value(), bytes.value())?;
        }
    }
    truncate_to(batch, marker.base).map(Some)
}

/// Moves the marker's base to the log's last event (entries were applied on top of it).
pub(crate) fn rebase_received<E: LogEvent>(batch: &mut Batch<'_, E>) -> Result<(), StoreError> {
    let mut machine = batch.tx().open_table(MACHINE)?;
    if let Some(mut marker) = receiving(&machine)? {
        marker.base = batch.last_seq();
        tables::put(&mut machine, RECEIVING, &marker)?;
    }
    Ok(())
}

/// The transfer being received, if its events can still be taken out of the log.
fn undoable<E: LogEvent>(batch: &mut Batch<'_, E>) -> Result<Option<Receiving>, StoreError> {
    let marker = receiving(&batch.tx().open_table(MACHINE)?)?;
    if marker.is_some_and(|m| m.truncated) {
        return Err(StoreError::Snapshot(
            "the received events replaced diverged local ones and cannot be taken back; \
             the replica needs a snapshot installed (or its file rebuilt from its peers)"
                .into(),
        ));
    }
    Ok(marker)
}

/// Truncates the log after `base` if it goes beyond; how many events went.
fn truncate_to<E: LogEvent>(batch: &mut Batch<'_, E>, base: Seq) -> Result<u64, StoreError> {
    if batch.last_seq() <= base {
        return Ok(0);
    }
    batch.truncate_after(base)
}

/// A snapshot's metadata and its last sequence number.
pub(crate) type Position<C> = (
    SnapshotMeta<<C as RaftTypeConfig>::NodeId, <C as RaftTypeConfig>::Node>,
    Seq,
);

/// The current snapshot's metadata and last sequence number, if there is one.
pub(crate) fn current<C: RaftTypes, Tb>(table: &Tb) -> Result<Option<Position<C>>, StoreError>
where
    Tb: ReadableTable<&'static str, &'static [u8]>,
{
    let meta: Option<SnapshotMeta<C::NodeId, C::Node>> = tables::get(table, SNAPSHOT_META)?;
    let last: Option<u64> = tables::get(table, SNAPSHOT_LAST_SEQ)?;
    Ok(meta.zip(last.map(Seq)))
}

/// Makes (`meta`, `last_seq`) the current snapshot inside the open transaction, unless the
/// current one is newer (a snapshot installed while this one was being built). Returns
/// whether it did.
pub(crate) fn save_current<C: RaftTypes, E: LogEvent>(
    batch: &mut Batch<'_, E>,
    meta: &SnapshotMeta<C::NodeId, C::Node>,
    last_seq: Seq,
) -> Result<bool, StoreError> {
    let mut table = batch.tx().open_table(SNAPSHOT)?;
    if current::<C, _>(&table)?.is_some_and(|(c, _)| c.last_log_id > meta.last_log_id) {
        return Ok(false);
    }
    tables::put(&mut table, SNAPSHOT_META, meta)?;
    tables::put(&mut table, SNAPSHOT_LAST_SEQ, &last_seq.0)?;
    Ok(true)
}
