//! [`RaftTypes`]: what this storage needs of an openraft type configuration.
//!
//! The storage is generic over the caller's `RaftTypeConfig`, with two requirements: log
//! entries are openraft's own [`Entry`] (so the storage can tell blank, membership and
//! application entries apart and serialize them with serde), and a snapshot's data is this
//! storage's [`SnapshotData`] (a reference to its events, with openraft's
//! `generic-snapshot-data`: the application transfers it, see
//! [`super::RaftStore::receive_snapshot`]). Every type config that meets both implements
//! [`RaftTypes`] automatically.

use super::SnapshotData;
use openraft::{Entry, RaftTypeConfig};

/// An openraft type configuration this storage can hold: entries are [`openraft::Entry`] and
/// snapshot data is [`SnapshotData`]. Implemented for every such configuration; the
/// application's `D`, `R`, `NodeId` and `Node` are serialized with serde (openraft's `serde`
/// feature), so they only need to be serde types.
pub trait RaftTypes: RaftTypeConfig<Entry = Entry<Self>, SnapshotData = SnapshotData> {}

impl<C> RaftTypes for C where C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = SnapshotData> {}
