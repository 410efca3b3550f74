//! The Raft tables in the replica's redb file, their keys, and typed access to them.
//!
//! - [`LOG`]: log index → encoded [`openraft::Entry`];
//! - [`STATE`] (the log's own state): [`FORMAT`], [`VOTE`], [`COMMITTED`], [`PURGED`];
//! - [`MACHINE`] (the state machine's position): [`APPLIED`], [`MEMBERSHIP`];
//! - [`MACHINE`] also holds [`RECEIVING`] while a snapshot transfer's events are being
//!   written into the log, until it is installed ([`INSTALLING`]: what an earlier build held
//!   while it moved staged events, refused at open);
//! - [`SNAPSHOT`] (the current snapshot, by reference): [`SNAPSHOT_META`],
//!   [`SNAPSHOT_LAST_SEQ`] ([`SNAPSHOT_DATA`] is the blob earlier builds stored; it is removed
//!   on open);
//! - [`STAGED`]: where earlier builds staged a transfer's events; deleted on open;
//! - [`ASIDE`]: a transfer's received events set aside while entries were applied.
//!
//! Every value is encoded with [`super::codec`]; a missing key reads as `None`.

use super::codec;
use crate::StoreError;
use redb::{ReadableTable, Table, TableDefinition};
use serde::{de::DeserializeOwned, Serialize};

/// Log index → encoded entry.
pub(crate) const LOG: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("raft_log");
/// The log's state: vote, committed and last purged log ids, storage format.
pub(crate) const STATE: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("raft_state");
/// The state machine's position: last applied log id and last membership.
pub(crate) const MACHINE: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("raft_machine");
/// The current snapshot: its metadata and its data.
pub(crate) const SNAPSHOT: TableDefinition<'static, &'static str, &'static [u8]> =
    TableDefinition::new("raft_snapshot");

/// Where earlier builds staged a transfer's events (seq → stored bytes); deleted on open.
pub(crate) const STAGED: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("raft_snapshot_incoming");

/// Events a transfer had received that entries applied meanwhile set aside (seq → stored
/// bytes), until the transfer writes on or is installed (they are merged back then) or is
/// discarded ([`super::snapshot`]).
pub(crate) const ASIDE: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("raft_received_aside");

/// `STATE`: the Raft storage format of this file ([`FORMAT_VERSION`]), written when the
/// tables are created.
pub(crate) const FORMAT: &str = "format";
/// `STATE`: the last saved `Vote`.
pub(crate) const VOTE: &str = "vote";
/// `STATE`: the last saved committed `LogId`.
pub(crate) const COMMITTED: &str = "committed";
/// `STATE`: the last purged `LogId`.
pub(crate) const PURGED: &str = "purged";
/// `MACHINE`: the last applied `LogId`.
pub(crate) const APPLIED: &str = "applied";
/// `MACHINE`: the last applied `StoredMembership`.
pub(crate) const MEMBERSHIP: &str = "membership";
/// `SNAPSHOT`: the current snapshot's `SnapshotMeta`.
pub(crate) const SNAPSHOT_META: &str = "meta";
/// `SNAPSHOT`: the blob of the whole log that builds before snapshots by reference stored.
pub(crate) const SNAPSHOT_DATA: &str = "data";
/// `SNAPSHOT`: the current snapshot's last sequence number (its events are 1..=it).
pub(crate) const SNAPSHOT_LAST_SEQ: &str = "last_seq";
/// `MACHINE`: the snapshot an earlier build was moving from [`STAGED`] into the log.
pub(crate) const INSTALLING: &str = "installing";
/// `MACHINE`: the transfer whose events are being received ([`super::snapshot::Receiving`]).
pub(crate) const RECEIVING: &str = "receiving";

/// The Raft storage format this build writes and reads.
pub(crate) const FORMAT_VERSION: u32 = 1;

/// Reads and decodes the value at `key`.
pub(crate) fn get<T, Tb>(table: &Tb, key: &str) -> Result<Option<T>, StoreError>
where
    T: DeserializeOwned,
    Tb: ReadableTable<&'static str, &'static [u8]>,
{
    match table.get(key)? {
        Some(bytes) => codec::decode(|| key.to_string(), bytes.value()).map(Some),
        None => Ok(None),
    }
}

/// Encodes `value` and writes it at `key`.
pub(crate) fn put<T: Serialize + ?Sized>(
    table: &mut Table<'_, &'static str, &'static [u8]>,
    key: &str,
    value: &T,
) -> Result<(), StoreError> {
    let bytes = codec::encode(|| key.to_string(), value)?;
    table.insert(key, bytes.as_slice())?;
    Ok(())
}
