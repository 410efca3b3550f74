//! Who leads, decided from the replicas' statuses the same way by every caller (the
//! front-end's leader tracker and cluster page, the tools; for the order replicas and the
//! catalog replicas alike): [`leader`].

use crate::status::{ReplicaStatus, Role};

/// Whether a replica's status says it leads: role leader and not isolated from its quorum
/// (a leader cut off from its followers can commit nothing; see
/// [`ReplicaStatus::isolated`]).
pub fn leads(status: &ReplicaStatus) -> bool {
    status.role == Role::Leader && !status.isolated
}

/// Of the replicas' statuses, the one that leads ([`leads`]) with the highest term; of two
/// in one term (Raft rules it out, but statuses read at different moments can show it),
/// the higher replica id.
pub fn leader<'a>(
    statuses: impl IntoIterator<Item = &'a ReplicaStatus>,
) -> Option<&'a ReplicaStatus> {
    statuses
        .into_iter()
        .filter(|s| leads(s))
        .max_by_key(|s| (s.term, s.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use toystore_config::ReplicaId;
    use toystore_events::Seq;

    fn status(id: ReplicaId, role: Role, term: u64, isolated: bool) -> ReplicaStatus {
        ReplicaStatus {
            id,
            role,
            ready: true,
            term,
            leader: None,
            last_log_index: None,
            last_log_id: None,
            applied: None,
            snapshot: None,
            last_seq: Seq::ZERO,
            voters: vec![1, 2, 3],
            quorum_ack_ms: None,
            isolated,
            storage: None,
        }
    }

    fn pick(statuses: &[ReplicaStatus]) -> Option<ReplicaId> {
        leader(statuses).map(|s| s.id)
    }

    #[test]
    fn the_leader_has_the_highest_term_and_is_not_isolated() {
        let followers = [
            status(1, Role::Follower, 9, false),
            status(2, Role::Candidate, 9, false),
        ];
        assert_eq!(pick(&followers), None);
        assert_eq!(pick(&[status(3, Role::Leader, 4, true)]), None, "isolated");
        let two = [
            status(3, Role::Leader, 4, false),
            status(1, Role::Leader, 6, false),
            status(2, Role::Leader, 7, true),
        ];
        assert_eq!(pick(&two), Some(1), "the highest term not isolated");
        let tie = [
            status(2, Role::Leader, 5, false),
            status(3, Role::Leader, 5, false),
        ];
        assert_eq!(pick(&tie), Some(3), "one term, the higher id");
        assert_eq!(
            pick(&[tie[1].clone(), tie[0].clone()]),
            Some(3),
            "whatever the order"
        );
    }
}
