//! The bytes of every openraft value the order replicas store or send, pinned: Raft log
//! entries (normal, blank, membership), votes, log ids, the stored membership and snapshot
//! metadata (the storage writes each as a format byte then these postcard bytes), and the
//! messages replicas exchange (append, vote, and their replies). A dependency upgrade
//! (openraft, serde, postcard) that changes any of them fails here, before a replica meets
//! a file or a peer written the old way; each value also decodes from its pinned bytes.
#![allow(clippy::unwrap_used)]

use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse, VoteRequest, VoteResponse};
use openraft::{
    BasicNode, CommittedLeaderId, Entry, EntryPayload, LogId, Membership, SnapshotMeta,
    StoredMembership, Vote,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use toystore_config::ReplicaId;
use toystore_events::Purchase;
use toystore_order::types::{OrderRaft, Proposal};

fn log_id(term: u64, index: u64) -> LogId<ReplicaId> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn membership() -> Membership<ReplicaId, BasicNode> {
    let nodes: BTreeMap<ReplicaId, BasicNode> = [(1, "127.0.0.1:8091"), (2, "127.0.0.1:8092")]
        .into_iter()
        .map(|(id, addr)| (id, BasicNode::new(addr)))
        .collect();
    Membership::new(vec![BTreeSet::from([1, 2])], nodes)
}

fn normal() -> Entry<OrderRaft> {
    Entry {
        log_id: log_id(7, 42),
        payload: EntryPayload::Normal(Proposal {
            purchases: vec![Purchase {
                request_id: "req-1".try_into().unwrap(),
                name: "Tux".try_into().unwrap(),
                quantity: 2u32.try_into().unwrap(),
            }],
        }),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

/// `value` encodes to `pinned` (hex) and `pinned` decodes to a value that encodes the same.
fn pinned<T: Serialize + DeserializeOwned + Debug>(what: &str, value: &T, pinned: &str) {
    let bytes = postcard::to_allocvec(value).unwrap();
    assert_eq!(hex(&bytes), pinned, "{what}: {value:?}");
    let back: T = postcard::from_bytes(&unhex(pinned)).unwrap();
    assert_eq!(postcard::to_allocvec(&back).unwrap(), bytes, "{what}");
}

#[test]
fn stored_values_keep_their_bytes() {
    pinned(
        "normal entry",
        &normal(),
        "07002a0101057265712d310354757802",
    );
    let blank = Entry::<OrderRaft> {
        log_id: log_id(7, 43),
        payload: EntryPayload::Blank,
    };
    pinned("blank entry", &blank, "07002b00");
    let change = Entry::<OrderRaft> {
        log_id: log_id(1, 0),
        payload: EntryPayload::Membership(membership()),
    };
    pinned(
        "membership entry",
        &change,
        "010000020102010202010e3132372e302e302e313a38303931020e3132372e302e302e313a38303932",
    );
    pinned(
        "committed vote",
        &Vote::<ReplicaId>::new_committed(7, 2),
        "070201",
    );
    pinned("vote", &Vote::<ReplicaId>::new(8, 3), "080300");
    pinned("committed log id", &Some(log_id(7, 42)), "0107002a");
    pinned("purged log id", &log_id(6, 10), "06000a");
    let stored = StoredMembership::new(Some(log_id(1, 0)), membership());
    pinned(
        "stored membership",
        &stored,
        "010100000102010202010e3132372e302e302e313a38303931020e3132372e302e302e313a38303932",
    );
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(7, 40)),
        last_membership: stored,
        snapshot_id: "7-40".into(),
    };
    pinned("snapshot meta", &meta, "01070028010100000102010202010e3132372e302e302e313a38303931020e3132372e302e302e313a3830393204372d3430");
}

#[test]
fn messages_keep_their_bytes() {
    let append = AppendEntriesRequest::<OrderRaft> {
        vote: Vote::new_committed(7, 2),
        prev_log_id: Some(log_id(7, 41)),
        entries: vec![normal()],
        leader_commit: Some(log_id(7, 41)),
    };
    pinned(
        "append",
        &append,
        "070201010700290107002a0101057265712d31035475780201070029",
    );
    pinned(
        "append: success",
        &AppendEntriesResponse::<ReplicaId>::Success,
        "00",
    );
    pinned(
        "append: conflict",
        &AppendEntriesResponse::<ReplicaId>::Conflict,
        "02",
    );
    let higher = AppendEntriesResponse::<ReplicaId>::HigherVote(Vote::new_committed(9, 3));
    pinned("append: higher vote", &higher, "03090301");
    let vote = VoteRequest::new(Vote::new(8, 3), Some(log_id(7, 42)));
    pinned("vote request", &vote, "0803000107002a");
    let reply = VoteResponse::new(Vote::new(8, 3), Some(log_id(7, 42)), true);
    pinned("vote reply", &reply, "080300010107002a");
}
