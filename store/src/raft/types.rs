//! [`RaftTypes`]: what this storage needs of an openraft type configuration.
//!
//! The storage is generic over the caller's `RaftTypeConfig`, with two requirements: log
//! entries are openraft's own [`Entry`] (so the storage can tell blank, membership and
//! application entries apart and serialize them with serde), and snapshots travel as bytes in
//! a `Cursor<Vec<u8>>` (openraft 0.9's default `SnapshotData`). Every type config that meets
//! both implements [`RaftTypes`] automatically.

use openraft::{Entry, RaftTypeConfig};
use std::io::Cursor;

/// An openraft type configuration this storage can hold: entries are [`openraft::Entry`] and
/// snapshot data is `Cursor<Vec<u8>>`. Implemented for every such configuration; the
/// application's `D`, `R`, `NodeId` and `Node` are serialized with serde (openraft's `serde`
/// feature), so they only need to be serde types.
pub trait RaftTypes: RaftTypeConfig<Entry = Entry<Self>, SnapshotData = Cursor<Vec<u8>>> {}

impl<C> RaftTypes for C where C: RaftTypeConfig<Entry = Entry<C>, SnapshotData = Cursor<Vec<u8>>> {}
