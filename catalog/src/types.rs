//! The catalog's Raft type configuration: node id = the replica id ([`ReplicaId`], as in
//! the cluster file's `[[catalogs]]`), node = [`BasicNode`] (its address), an entry's data =
//! a [`Command`], its reply = a [`Reply`]. Storage is `toystore_store::raft` on the replica's
//! redb file; the rules of an applied command are [`crate::rules`].

use crate::rules::BuyOutcome;
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use toystore_config::ReplicaId;
use toystore_events::{ProductName, Purchase, Seq};

/// What a catalog entry asks the state machine to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Adds these toys, `stock` units each, if the catalog has no toy yet (the first leader
    /// proposes it; a second proposal finds toys and adds nothing).
    Seed {
        /// Name and price of every toy.
        toys: Vec<(ProductName, f64)>,
        /// Units each starts with.
        stock: u32,
    },
    /// Buys, in order, each at most once per request id (the leader batches concurrent
    /// buys into one entry).
    Buy(Vec<Purchase>),
    /// Restocks every sold-out toy to `stock`, except a toy already restocked after
    /// `seen` (the proposer's last event when it decided): however many leaders propose a
    /// restock for one sell-out, it is applied once.
    Restock {
        /// Units a restocked toy gets.
        stock: u32,
        /// The proposer's last applied event.
        seen: Seq,
    },
}

/// What applying an entry answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// A blank or membership entry.
    #[default]
    Nothing,
    /// How many toys a seed added (0: the catalog had toys already).
    Seeded(u32),
    /// Each buy's outcome, in order.
    Bought(Vec<BuyOutcome>),
    /// The toys a restock brought back, sorted.
    Restocked(Vec<ProductName>),
}

openraft::declare_raft_types!(
    /// The catalog's Raft types.
    pub CatalogRaft:
        D = Command,
        R = Reply,
        NodeId = ReplicaId,
        Node = BasicNode,
        Entry = openraft::Entry<CatalogRaft>,
        SnapshotData = toystore_store::raft::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);
