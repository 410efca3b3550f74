//! The Raft messages a replica decodes from its peers' request bodies (postcard) never make
//! it panic: proptest feeds the decoders arbitrary bytes and valid messages with bytes
//! flipped, cut short or extended; each decode returns a message or an error, and a valid
//! message decodes to itself.
#![allow(clippy::unwrap_used)]

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, SnapshotMeta, Vote};
use proptest::prelude::*;
use toystore_config::ReplicaId;
use toystore_events::Purchase;
use toystore_order::types::{OrderRaft, Proposal};

fn log_id(term: u64, index: u64) -> LogId<ReplicaId> {
    LogId::new(CommittedLeaderId::new(term, 0), index)
}

fn append(n: usize, term: u64) -> AppendEntriesRequest<OrderRaft> {
    AppendEntriesRequest {
        vote: Vote::new_committed(term, 1),
        prev_log_id: Some(log_id(term, 3)),
        entries: (0..n as u64)
            .map(|i| Entry {
                log_id: log_id(term, 4 + i),
                payload: EntryPayload::Normal(Proposal {
                    purchases: vec![Purchase {
                        request_id: format!("r{i}").try_into().unwrap(),
                        name: "Tux".try_into().unwrap(),
                        quantity: 1u32.try_into().unwrap(),
                    }],
                }),
            })
            .collect(),
        leader_commit: Some(log_id(term, 3)),
    }
}

/// Every Raft message a replica decodes, from these bytes.
fn decode_all(bytes: &[u8]) {
    let _ = postcard::from_bytes::<AppendEntriesRequest<OrderRaft>>(bytes);
    let _ = postcard::from_bytes::<VoteRequest<ReplicaId>>(bytes);
    let _ = postcard::from_bytes::<InstallSnapshotRequest<OrderRaft>>(bytes);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn any_bytes_decode_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_all(&bytes);
    }

    #[test]
    fn damaged_messages_decode_or_are_refused(
        n in 0usize..5,
        term in any::<u64>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        cut in any::<prop::sample::Index>(),
        tail in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let request = append(n, term);
        let vote = VoteRequest::new(Vote::new(term, 2), Some(log_id(term, 9)));
        let snapshot = InstallSnapshotRequest::<OrderRaft> {
            vote: Vote::new_committed(term, 1),
            meta: SnapshotMeta {
                last_log_id: Some(log_id(term, 9)),
                last_membership: Default::default(),
                snapshot_id: "s".into(),
            },
            offset: 0,
            data: vec![1, 2, 3],
            done: true,
        };
        let encoded = [
            postcard::to_allocvec(&request).unwrap(),
            postcard::to_allocvec(&vote).unwrap(),
            postcard::to_allocvec(&snapshot).unwrap(),
        ];
        prop_assert_eq!(
            postcard::from_bytes::<AppendEntriesRequest<OrderRaft>>(&encoded[0]).unwrap().entries.len(),
            n
        );
        for good in &encoded {
            let mut bad = good.clone();
            for (at, x) in &flips {
                let i = at.index(bad.len());
                bad[i] ^= x;
            }
            decode_all(&bad);
            decode_all(&good[..cut.index(good.len() + 1)]);
            let mut longer = good.clone();
            longer.extend_from_slice(&tail);
            decode_all(&longer);
        }
    }
}
