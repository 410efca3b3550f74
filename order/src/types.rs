//! The order service's Raft type configuration: node id = replica id, node =
//! [`BasicNode`] (its address), an entry's data = a [`Proposal`] (the purchases the leader
//! batched into it, see [`crate::proposer`]), an entry's reply = one [`Outcome`] per purchase.
//! Storage is `toystore_store::raft` on the replica's redb file.

use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use toystore_events::{OrderNumber, Purchase};

/// One Raft entry's data: purchases, applied in this order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The purchases, each already sold by the catalog.
    pub purchases: Vec<Purchase>,
}

/// What applying a purchase answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// The purchase is order `number`; `new` is false when its request id was already
    /// placed (with the same toy and quantity) and nothing was added.
    Placed {
        /// The order number.
        number: OrderNumber,
        /// Whether this entry placed it.
        new: bool,
    },
    /// The request id was placed before for a different purchase: nothing was added.
    KeyReused {
        /// The number the request id names.
        number: OrderNumber,
    },
}

/// What applying an entry answered: one outcome per purchase of its [`Proposal`], in order
/// (none for a blank or membership entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcomes(pub Vec<Outcome>);

openraft::declare_raft_types!(
    /// The order service's Raft types.
    pub OrderRaft:
        D = Proposal,
        R = Outcomes,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<OrderRaft>,
        SnapshotData = toystore_store::raft::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The replica's Raft handle.
pub type OrderNode = openraft::Raft<OrderRaft>;
