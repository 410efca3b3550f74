//! The order service's Raft type configuration: node id = replica id, node =
//! [`BasicNode`] (its address), an entry's data = a [`Purchase`], an entry's reply = an
//! [`Outcome`]. Storage is `toystore_store::raft` on the replica's redb file.

use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use std::io::Cursor;

/// A purchase proposed through Raft (the catalog has already sold it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// The idempotency key.
    pub request_id: String,
    /// The toy.
    pub product: String,
    /// Units.
    pub quantity: u32,
}

/// What applying an entry answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The purchase is order `number`; `new` is false when its request id was already
    /// placed (with the same toy and quantity) and nothing was added.
    Placed {
        /// The order number.
        number: u64,
        /// Whether this entry placed it.
        new: bool,
    },
    /// The request id was placed before for a different purchase: nothing was added.
    KeyReused {
        /// The number the request id names.
        number: u64,
    },
    /// A blank or membership entry.
    Nothing,
}

openraft::declare_raft_types!(
    /// The order service's Raft types.
    pub OrderRaft:
        D = Purchase,
        R = Outcome,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<OrderRaft>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The replica's Raft handle.
pub type OrderNode = openraft::Raft<OrderRaft>;
