//! Snapshots by reference: building one, the staging of a received one, and installing it.
//!
//! A snapshot is its `SnapshotMeta` (last applied log id, membership) and the last sequence
//! number `S` of the event log at that point ([`super::SnapshotData`]): the events 1..=S never
//! change again, so nothing is copied. The current snapshot is stored as those two values
//! ([`save_current`]), a constant-size write whatever the log's length.
//!
//! A transfer ([`super::RaftStore::receive_snapshot`]) writes the events the receiver lacks
//! into the staging table in large transactions, with bounded memory. Installing then moves
//! them into the event log (with their projection rows) in chunks of [`MOVE_CHUNK`] events,
//! one transaction each, advancing the [`Installing`] marker's `moved` (the first records
//! the marker); the last drops the staging table, sets the applied log id and membership,
//! makes the snapshot current and removes the marker. Local
//! events the snapshot shares byte for byte are kept; a local event that differs is
//! truncated with everything after it. A crash in between leaves the marker and the rest of
//! the staged events, and opening the file finishes the move before Raft starts, so the
//! state machine is never seen half-installed.

use super::tables::{
    self, APPLIED, INSTALLING, MACHINE, MEMBERSHIP, SNAPSHOT, SNAPSHOT_LAST_SEQ, SNAPSHOT_META,
    STAGED,
};
use super::RaftTypes;
use crate::writer::EVENTS;
use crate::{Batch, StoreError};
use openraft::{LogId, RaftTypeConfig, SnapshotMeta, StoredMembership};
use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use toystore_events::{LogEvent, Seq};

/// Events moved from staging into the log per transaction.
pub(crate) const MOVE_CHUNK: usize = 65_536;

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

/// A snapshot being moved from staging into the log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct Installing<C: RaftTypeConfig> {
    /// The snapshot's metadata.
    pub(crate) meta: SnapshotMeta<C::NodeId, C::Node>,
    /// Its last sequence number.
    pub(crate) last_seq: Seq,
    /// The last staged event moved into the log so far.
    pub(crate) moved: Seq,
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

/// Empties the staging table (a new transfer starts).
pub(crate) fn clear_staged<E: LogEvent>(batch: &mut Batch<'_, E>) -> Result<(), StoreError> {
    let tx = batch.tx();
    tx.delete_table(STAGED)?;
    tx.open_table(STAGED)?;
    Ok(())
}

/// Adds received events to the staging table; they must follow its last one (or `after`
/// when it is empty) without a gap. Returns the last staged sequence number. The bytes are
/// not decoded here: moving them into the log does (`Batch::append_at`), and a wire
/// transfer's reader already did.
pub(crate) fn stage<E: LogEvent>(
    batch: &mut Batch<'_, E>,
    after: Seq,
    events: &[(Seq, bytes::Bytes)],
) -> Result<Seq, StoreError> {
    let mut table = batch.tx().open_table(STAGED)?;
    let mut last = table.last()?.map_or(after, |(k, _)| Seq(k.value()));
    for (seq, bytes) in events {
        if *seq != last.next() {
            return Err(StoreError::Snapshot(format!(
                "the transfer skipped events: {seq} after {last}"
            )));
        }
        table.insert(seq.0, bytes.as_ref())?;
        last = *seq;
    }
    Ok(last)
}

/// Starts installing `marker`'s snapshot, whose events after `after` are staged: checks
/// that staging holds exactly `after + 1 ..= last_seq` and that the log holds the events up
/// to `after`, and records the marker.
pub(crate) fn begin_install<C: RaftTypes, E: LogEvent>(
    batch: &mut Batch<'_, E>,
    marker: &Installing<C>,
    after: Seq,
) -> Result<(), StoreError> {
    let staged = batch.tx().open_table(STAGED)?;
    let first = staged.first()?.map(|(k, _)| Seq(k.value()));
    let last = staged.last()?.map(|(k, _)| Seq(k.value()));
    let count = staged.len()?;
    drop(staged);
    let expected = marker.last_seq.0.saturating_sub(after.0);
    let covers = match (first, last) {
        (Some(f), Some(l)) => f == after.next() && l == marker.last_seq && count == expected,
        _ => expected == 0,
    };
    if !covers {
        return Err(StoreError::Snapshot(format!(
            "staged events {first:?}..={last:?} ({count}) are not {}..={} of snapshot {}",
            after.next(),
            marker.last_seq,
            marker.meta.snapshot_id
        )));
    }
    if batch.last_seq() < after {
        return Err(StoreError::Snapshot(format!(
            "the log ends at {}, but the transfer assumed it held events up to {after}",
            batch.last_seq()
        )));
    }
    let mut machine = batch.tx().open_table(MACHINE)?;
    tables::put(&mut machine, INSTALLING, marker)
}

/// The staged events after `moved`, at most [`MOVE_CHUNK`].
fn staged_after<E: LogEvent>(
    batch: &mut Batch<'_, E>,
    moved: Seq,
) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
    let staged = batch.tx().open_table(STAGED)?;
    let rows = staged
        .range(moved.0 + 1..)?
        .take(MOVE_CHUNK)
        .map(|r| r.map(|(k, v)| (k.value(), v.value().to_vec())))
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Whether a snapshot is being installed (a marker left by a crash, if at open).
pub(crate) fn installing<C: RaftTypes, Tb>(
    machine: &Tb,
) -> Result<Option<Installing<C>>, StoreError>
where
    Tb: ReadableTable<&'static str, &'static [u8]>,
{
    tables::get(machine, INSTALLING)
}

/// Moves up to [`MOVE_CHUNK`] staged events into the log; once none is left, finishes the
/// install (position, membership, current snapshot, marker removed). Returns whether it is
/// finished.
pub(crate) fn move_chunk<C: RaftTypes, E: LogEvent>(
    batch: &mut Batch<'_, E>,
) -> Result<bool, StoreError> {
    let Some(mut marker) = installing::<C, _>(&batch.tx().open_table(MACHINE)?)? else {
        return Err(StoreError::Snapshot(
            "no snapshot is being installed".into(),
        ));
    };
    let chunk = staged_after(batch, marker.moved)?;
    for (seq, bytes) in &chunk {
        merge(batch, Seq(*seq), bytes)?;
    }
    if let Some((last, _)) = chunk.last() {
        marker.moved = Seq(*last);
    }
    if chunk.len() == MOVE_CHUNK {
        let mut machine = batch.tx().open_table(MACHINE)?;
        tables::put(&mut machine, INSTALLING, &marker)?;
        return Ok(false);
    }
    clear_staged(batch)?;
    if batch.last_seq() > marker.last_seq {
        batch.truncate_after(marker.last_seq)?;
    }
    if batch.last_seq() != marker.last_seq {
        // Staging lost events (it was cleared under the install): never claim a position
        // the log does not hold.
        return Err(StoreError::Snapshot(format!(
            "the log ends at {} after moving snapshot {}'s staged events, not at its {}",
            batch.last_seq(),
            marker.meta.snapshot_id,
            marker.last_seq
        )));
    }
    let mut machine = batch.tx().open_table(MACHINE)?;
    match &marker.meta.last_log_id {
        Some(id) => tables::put(&mut machine, APPLIED, id)?,
        None => {
            machine.remove(APPLIED)?;
        }
    }
    tables::put(&mut machine, MEMBERSHIP, &marker.meta.last_membership)?;
    machine.remove(INSTALLING)?;
    drop(machine);
    save_current::<C, E>(batch, &marker.meta, marker.last_seq)?;
    Ok(true)
}

/// Puts the snapshot's event at `seq` into the log: kept if the log already holds the same
/// bytes there; otherwise the log is truncated before it (a differing local tail) and it is
/// appended.
fn merge<E: LogEvent>(batch: &mut Batch<'_, E>, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
    if seq <= batch.last_seq() {
        let same = batch
            .tx()
            .open_table(EVENTS)?
            .get(seq.0)?
            .is_some_and(|v| v.value() == bytes);
        if same {
            return Ok(());
        }
        batch.truncate_after(Seq(seq.0 - 1))?;
    }
    batch.append_at(seq, bytes)?;
    Ok(())
}
