//! A replica's file written while the Raft node id was `u64` opens with the node id
//! [`ReplicaId`] (`u32`): vote, committed and purged log ids, log entries (a membership among
//! them), the applied log id, the membership and the current snapshot's metadata all read
//! back the same, through the storage's own encoding. (postcard writes `u32` and `u64` as the
//! same varint; this fails if the storage's encoding ever stops doing so.)
#![allow(clippy::unwrap_used)]

use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, LogState, Membership, RaftLogReader,
    RaftSnapshotBuilder, RaftTypeConfig, StoredMembership, Vote,
};
use std::collections::{BTreeMap, BTreeSet};
use toystore_config::ReplicaId;
use toystore_events::{OrderEvent, Purchase, Seq};
use toystore_order::apply::Orders;
use toystore_order::projection::OrderProjection;
use toystore_order::replica::open_store;
use toystore_order::types::{OrderRaft, Outcomes, Proposal};
use toystore_store::raft::{Apply, RaftStore};
use toystore_store::{Batch, StoreError};

openraft::declare_raft_types!(
    /// The order service's Raft types as they were: node id `u64`.
    OldOrderRaft:
        D = Proposal,
        R = Outcomes,
        NodeId = u64,
        Node = BasicNode,
        Entry = openraft::Entry<OldOrderRaft>,
        SnapshotData = toystore_store::raft::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The order applier for the old types (the same rule; only the log id's type differs).
struct OldOrders;

impl Apply<OldOrderRaft, OrderEvent> for OldOrders {
    fn apply(
        &self,
        batch: &mut Batch<'_, OrderEvent>,
        log_id: &LogId<u64>,
        data: &Proposal,
    ) -> Result<Outcomes, StoreError> {
        let node = ReplicaId::try_from(log_id.leader_id.node_id).unwrap();
        let log_id = LogId::new(
            CommittedLeaderId::new(log_id.leader_id.term, node),
            log_id.index,
        );
        Apply::<OrderRaft, OrderEvent>::apply(&Orders, batch, &log_id, data)
    }

    fn reply_without_data(&self) -> Outcomes {
        Outcomes::default()
    }
}

/// Entry `index` of term 3, led by replica 2.
fn log_id<N: openraft::NodeId + From<u16>>(index: u64) -> LogId<N> {
    LogId::new(CommittedLeaderId::new(3, N::from(2)), index)
}

/// Voters 1, 2, 3 and learner 300 (an id of two varint bytes).
fn membership<N: openraft::NodeId + From<u16>>() -> Membership<N, BasicNode> {
    let voters: BTreeSet<N> = [1, 2, 3].map(N::from).into();
    let nodes: BTreeMap<N, BasicNode> = [1, 2, 3, 300]
        .map(|id| {
            (
                N::from(id),
                BasicNode::new(format!("127.0.0.1:{}", 9000 + id)),
            )
        })
        .into();
    Membership::new(vec![voters], nodes)
}

/// Entries 1..=3: blank, the membership, one purchase.
fn entries<C>() -> Vec<Entry<C>>
where
    C: RaftTypeConfig<D = Proposal, Node = BasicNode, Entry = Entry<C>>,
    C::NodeId: From<u16>,
{
    let entry = |index, payload| Entry {
        log_id: log_id(index),
        payload,
    };
    vec![
        entry(1, EntryPayload::Blank),
        entry(2, EntryPayload::Membership(membership())),
        entry(
            3,
            EntryPayload::Normal(Proposal {
                purchases: vec![Purchase {
                    request_id: "r1".try_into().unwrap(),
                    name: "Tux".try_into().unwrap(),
                    quantity: 2u32.try_into().unwrap(),
                }],
            }),
        ),
    ]
}

#[tokio::test]
async fn a_file_written_with_u64_node_ids_reads_with_replica_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("order-2.redb");
    let old_snapshot = {
        let store = RaftStore::<OldOrderRaft, OrderEvent>::open(&path, OrderProjection).unwrap();
        let mut log = store.log_store();
        log.save_vote(&Vote::new_committed(3, 2)).await.unwrap();
        log.blocking_append(entries::<OldOrderRaft>())
            .await
            .unwrap();
        log.save_committed(Some(log_id(3))).await.unwrap();
        let mut sm = store.state_machine(OldOrders);
        sm.apply(entries::<OldOrderRaft>()).await.unwrap();
        let snapshot = sm.get_snapshot_builder().await.build_snapshot().await;
        log.purge(log_id(1)).await.unwrap();
        snapshot.unwrap().meta
    };

    let store = open_store(&path).unwrap();
    let mut log = store.log_store();
    assert_eq!(
        log.read_vote().await.unwrap(),
        Some(Vote::<ReplicaId>::new_committed(3, 2))
    );
    assert_eq!(
        log.read_committed().await.unwrap(),
        Some(log_id::<ReplicaId>(3))
    );
    assert_eq!(
        log.get_log_state().await.unwrap(),
        LogState {
            last_purged_log_id: Some(log_id::<ReplicaId>(1)),
            last_log_id: Some(log_id::<ReplicaId>(3)),
        }
    );
    assert_eq!(
        log.try_get_log_entries(0..10).await.unwrap(),
        entries::<OrderRaft>()[1..].to_vec()
    );
    let mut sm = store.state_machine(Orders);
    let membership = StoredMembership::new(Some(log_id(2)), membership::<ReplicaId>());
    assert_eq!(
        sm.applied_state().await.unwrap(),
        (Some(log_id::<ReplicaId>(3)), membership.clone())
    );
    let meta = sm.get_current_snapshot().await.unwrap().unwrap().meta;
    assert_eq!(meta.last_log_id, Some(log_id::<ReplicaId>(3)));
    assert_eq!(meta.last_membership, membership);
    assert_eq!(meta.snapshot_id, old_snapshot.snapshot_id);
    assert_eq!(store.event_log().last_seq(), Seq(1));
}
