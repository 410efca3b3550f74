//! The order service's Raft type configuration: node id = the replica id ([`ReplicaId`],
//! as in the cluster file and the API), node = [`BasicNode`] (its address), an entry's data =
//! a [`Proposal`] (the purchases the leader batched into it, see [`crate::proposer`]), an
//! entry's reply = one [`Outcome`] per purchase. Storage is `toystore_store::raft` on the
//! replica's redb file.

use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use toystore_config::ReplicaId;
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
        NodeId = ReplicaId,
        Node = BasicNode,
        Entry = openraft::Entry<OrderRaft>,
        SnapshotData = toystore_store::raft::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The replica's Raft handle.
pub type OrderNode = openraft::Raft<OrderRaft>;

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership, Vote};
    use std::collections::{BTreeMap, BTreeSet};

    fn log_id<N: openraft::NodeId>(term: u64, node: N, index: u64) -> LogId<N> {
        LogId::new(CommittedLeaderId::new(term, node), index)
    }

    fn membership<N: openraft::NodeId + From<u16>>() -> Membership<N, BasicNode> {
        let voters: BTreeSet<N> = [1, 2, 3].map(N::from).into();
        let nodes: BTreeMap<N, BasicNode> = [1, 2, 3, 300]
            .map(|id| (N::from(id), BasicNode::new(format!("127.0.0.1:{id}"))))
            .into();
        Membership::new(vec![voters], nodes)
    }

    /// `postcard(value)` read back as `T`, equal to `expected`.
    fn reads_as<T>(value: &impl Serialize, expected: &T)
    where
        T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let bytes = postcard::to_allocvec(value).expect("encodes");
        let read: T = postcard::from_bytes(&bytes).expect("decodes as the u32 id type");
        assert_eq!(&read, expected);
        assert_eq!(postcard::to_allocvec(&read).expect("encodes"), bytes);
    }

    /// The Raft node id was `u64` before it became [`ReplicaId`] (`u32`): Raft state written
    /// with `u64` ids (vote, log ids, membership, in the storage's postcard encoding and the
    /// replicas' postcard messages) must read the same with `u32` ids. postcard writes both as
    /// the same varint; this fails if that ever stops being so (say a fixed-width encoding).
    #[test]
    fn raft_state_written_with_u64_node_ids_reads_with_replica_ids() {
        let vote = Vote::<u64>::new_committed(7, 3);
        reads_as(&vote, &Vote::<ReplicaId>::new_committed(7, 3));
        reads_as(&Vote::<u64>::new(9, 300), &Vote::<ReplicaId>::new(9, 300));
        reads_as(&log_id(7, 3u64, 1_000), &log_id::<ReplicaId>(7, 3, 1_000));
        reads_as(
            &Some(log_id(u64::MAX, 2u64, u64::MAX)),
            &Some(log_id::<ReplicaId>(u64::MAX, 2, u64::MAX)),
        );
        reads_as(
            &StoredMembership::new(Some(log_id(2, 1u64, 5)), membership::<u64>()),
            &StoredMembership::new(
                Some(log_id::<ReplicaId>(2, 1, 5)),
                membership::<ReplicaId>(),
            ),
        );
        // The largest replica id, written as a u64, is still that id.
        let max = u64::from(ReplicaId::MAX);
        reads_as(
            &Vote::<u64>::new(1, max),
            &Vote::<ReplicaId>::new(1, ReplicaId::MAX),
        );
    }
}
