//! Snapshots of the state machine: the image format, building one from a consistent read, and
//! installing one.
//!
//! A snapshot's data is one [`StateImage`] encoded with [`super::codec`]: the log kind
//! ([`LogEvent::KIND`], so an order snapshot is never installed into a catalog log), the last
//! applied log id, the last membership, and every event of the event log as stored bytes
//! (seq 1, 2, ... in order). The projection is not in it: it is derived from the events.
//!
//! Installing replaces the state machine in one transaction: events the local log shares
//! byte for byte with the image (a prefix) stay, the rest of the local log is truncated
//! (which rebuilds the projection from what remains), and the image's remaining events are
//! appended (their projection rows with them), so the result equals a rebuild from the image.

use super::tables::{self, APPLIED, MACHINE, MEMBERSHIP, SNAPSHOT, SNAPSHOT_DATA, SNAPSHOT_META};
use super::RaftTypes;
use crate::writer::EVENTS;
use crate::{Batch, StoreError};
use openraft::{LogId, RaftTypeConfig, SnapshotMeta, StoredMembership};
use redb::{ReadTransaction, ReadableTable};
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};
use toystore_events::{LogEvent, Seq};

/// Everything a snapshot holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct StateImage<C: RaftTypeConfig> {
    /// The log kind.
    pub(crate) kind: String,
    /// The last log id applied to the state machine.
    pub(crate) last_applied: Option<LogId<C::NodeId>>,
    /// The last membership applied.
    pub(crate) membership: StoredMembership<C::NodeId, C::Node>,
    /// Every event, as stored; `events[i]` is the event at seq `i + 1`.
    pub(crate) events: Vec<Vec<u8>>,
}

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

/// Reads the whole state machine from one read transaction.
pub(crate) fn read_image<C: RaftTypes, E: LogEvent>(
    tx: &ReadTransaction,
) -> Result<StateImage<C>, StoreError> {
    let (last_applied, membership) = read_applied::<C, _>(&tx.open_table(MACHINE)?)?;
    let mut events = Vec::new();
    for row in tx.open_table(EVENTS)?.iter()? {
        let (k, v) = row?;
        let expected = events.len() as u64 + 1;
        if k.value() != expected {
            return Err(StoreError::Snapshot(format!(
                "the event log has a gap: seq {} follows seq {}",
                k.value(),
                expected - 1
            )));
        }
        events.push(v.value().to_vec());
    }
    Ok(StateImage {
        kind: E::KIND.to_string(),
        last_applied,
        membership,
        events,
    })
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

/// Checks that `image` may be installed into a log of kind `E` under `meta`.
pub(crate) fn check_image<C: RaftTypes, E: LogEvent>(
    image: &StateImage<C>,
    meta: &SnapshotMeta<C::NodeId, C::Node>,
) -> Result<(), StoreError> {
    if image.kind != E::KIND {
        return Err(StoreError::Snapshot(format!(
            "a snapshot of a {} log, not of a {} log",
            image.kind,
            E::KIND
        )));
    }
    if image.last_applied != meta.last_log_id || image.membership != meta.last_membership {
        return Err(StoreError::Snapshot(format!(
            "its data (last applied {:?}, membership {:?}) does not match its metadata {meta}",
            image.last_applied, image.membership
        )));
    }
    Ok(())
}

/// Replaces the state machine with `image` inside the open transaction.
pub(crate) fn install_image<C: RaftTypes, E: LogEvent>(
    batch: &mut Batch<'_, E>,
    image: &StateImage<C>,
) -> Result<(), StoreError> {
    let local = batch.last_seq();
    let shared = {
        let table = batch.tx().open_table(EVENTS)?;
        let mut shared = 0u64;
        for (i, bytes) in image.events.iter().enumerate() {
            let seq = i as u64 + 1;
            if seq > local.0 {
                break;
            }
            match table.get(seq)? {
                Some(v) if v.value() == bytes.as_slice() => shared = seq,
                _ => break,
            }
        }
        shared
    };
    if shared < local.0 {
        batch.truncate_after(Seq(shared))?;
    }
    for (i, bytes) in image.events.iter().enumerate().skip(shared as usize) {
        batch.append_at(Seq(i as u64 + 1), bytes)?;
    }
    let mut machine = batch.tx().open_table(MACHINE)?;
    match &image.last_applied {
        Some(id) => tables::put(&mut machine, APPLIED, id)?,
        None => {
            machine.remove(APPLIED)?;
        }
    }
    tables::put(&mut machine, MEMBERSHIP, &image.membership)?;
    Ok(())
}

/// Makes (`meta`, `data`) the current snapshot inside the open transaction, unless the current
/// one is newer (a snapshot installed while this one was being built). Returns whether it did.
pub(crate) fn save_current<C: RaftTypes, E: LogEvent>(
    batch: &mut Batch<'_, E>,
    meta: &SnapshotMeta<C::NodeId, C::Node>,
    data: &[u8],
) -> Result<bool, StoreError> {
    let mut table = batch.tx().open_table(SNAPSHOT)?;
    let current: Option<SnapshotMeta<C::NodeId, C::Node>> = tables::get(&table, SNAPSHOT_META)?;
    if current.is_some_and(|c| c.last_log_id > meta.last_log_id) {
        return Ok(false);
    }
    tables::put(&mut table, SNAPSHOT_META, meta)?;
    table.insert(SNAPSHOT_DATA, data)?;
    Ok(true)
}
